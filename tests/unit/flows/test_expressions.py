import pytest

from hotline.flows.expressions import (
    ExpressionError,
    check_template,
    evaluate,
    names,
    parse,
    render,
    template_names,
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("tier == 'gold'", True),
        ("tier != 'gold' or count > 1", True),
        ("not (count >= 3) and len(account) == 4", True),
        ("count in [1, 2, 3]", True),
        ("'x' not in tier", True),
        ("1 < count < 3", True),
        ("count + 1", 3),
        ("-count * 2 % 5", 1),
        ("'a' if count == 2 else 'b'", "a"),
        ("int(account) + 1", 1235),
        ("str(count) == '2'", True),
        ("flag == true and missing_ok == null", True),
    ],
)
def test_evaluate(source, expected):
    env = {"tier": "gold", "count": 2, "account": "1234", "flag": True, "missing_ok": None}
    assert evaluate(source, env) == expected


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('true')",
        "tier.upper()",
        "tier[0]",
        "lambda: 1",
        "open('x')",
        "len(x, y)",
        "[c for c in 'ab']",
        "x := 1",
        "b'bytes'",
    ],
)
def test_unsafe_expressions_are_refused(source):
    with pytest.raises(ExpressionError):
        parse(source)


def test_runtime_errors_are_expression_errors():
    with pytest.raises(ExpressionError, match="'nope' is not set"):
        evaluate("nope == 1", {})
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        evaluate("a < 1", {"a": "text"})
    with pytest.raises(ExpressionError, match="too long"):
        evaluate("'x' * 100000", {})


def test_names_excludes_functions_and_constants():
    assert names("len(account) > n and flag == true") == {"account", "n", "flag"}


def test_templates():
    assert render("Hi {{ name }}, you owe {{amount}}.", {"name": "Ann", "amount": 5}) == (
        "Hi Ann, you owe 5."
    )
    assert render("{{ gone }}", {"gone": None}) == ""
    assert template_names("{{ a }} and {{b}}") == {"a", "b"}
    with pytest.raises(ExpressionError, match="'x' is not set"):
        render("{{ x }}", {})
    with pytest.raises(ValueError, match="bad template"):
        check_template("{{ a.b }}")
