"""The safe expression language of `switch` and `set`, and `{{ name }}` templates.

Expressions are parsed with Python's `ast` and evaluated by walking only whitelisted
nodes: literals, variable names, comparisons (including `in`), `and`/`or`/`not`,
`+ - * %`, `x if c else y`, list literals, and the calls `len()`, `int()`, `str()`.
Nothing is ever passed to `eval`; attribute access, subscripts, lambdas and every other
call are refused at parse time, so a flow file cannot run code.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated."""


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Mod: operator.mod,
}
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {"len": len, "int": int, "str": str}
_CONSTANTS = (str, int, float, bool, type(None))
# Longest string a `*` may build: keeps "x" * 10**9 from eating memory.
_MAX_STRING = 10_000


@lru_cache(maxsize=1024)
def parse(source: str) -> ast.Expression:
    """Parse and check an expression; raise ExpressionError naming what is not allowed."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"invalid expression {source!r}: {error.msg}") from None
    for node in ast.walk(tree):
        _check(node, source)
    return tree


def _check(node: ast.AST, source: str) -> None:
    allowed = (
        ast.Expression,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.UnaryOp,
        ast.Not,
        ast.USub,
        ast.Compare,
        ast.BinOp,
        ast.IfExp,
        ast.Name,
        ast.Load,
        ast.Constant,
        ast.List,
        ast.Tuple,
        ast.Call,
        *_COMPARE,
        *_BINARY,
    )
    if not isinstance(node, allowed):
        raise ExpressionError(f"{type(node).__name__} is not allowed in expression {source!r}")
    if isinstance(node, ast.Constant) and not isinstance(node.value, _CONSTANTS):
        raise ExpressionError(f"literal {node.value!r} is not allowed in {source!r}")
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS or node.keywords or len(node.args) != 1:
            raise ExpressionError(f"only len(x), int(x) and str(x) may be called in {source!r}")


def names(source: str) -> set[str]:
    """The variable names an expression reads."""
    functions = {
        n.func.id
        for n in ast.walk(parse(source))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    found = {n.id for n in ast.walk(parse(source)) if isinstance(n, ast.Name)}
    return found - functions - {"true", "false", "null"}


def evaluate(source: str, variables: Mapping[str, Any]) -> Any:
    """Evaluate an expression over the variables; raise ExpressionError on any failure."""
    try:
        return _eval(parse(source).body, variables)
    except ExpressionError:
        raise
    except (TypeError, ValueError, ZeroDivisionError) as error:
        raise ExpressionError(f"cannot evaluate {source!r}: {error}") from None


# YAML-minded spellings, so `x == true` reads as people expect.
_NAMED = {"true": True, "false": False, "null": None}


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            if name in env:
                return env[name]
            if name in _NAMED:
                return _NAMED[name]
            raise ExpressionError(f"variable {name!r} is not set")
        case ast.BoolOp(op=ast.And(), values=values):
            result: Any = True
            for operand in values:
                result = _eval(operand, env)
                if not result:
                    return result
            return result
        case ast.BoolOp(values=values):  # Or
            result = False
            for operand in values:
                result = _eval(operand, env)
                if result:
                    return result
            return result
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, env)
        case ast.UnaryOp(operand=operand):  # USub
            return -_eval(operand, env)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _eval(left, env)
            for op, right_node in zip(ops, comparators, strict=True):
                right = _eval(right_node, env)
                if not _COMPARE[type(op)](current, right):
                    return False
                current = right
            return True
        case ast.BinOp(left=left, op=op, right=right):
            result = _BINARY[type(op)](_eval(left, env), _eval(right, env))
            if isinstance(result, str) and len(result) > _MAX_STRING:
                raise ExpressionError("string result too long")
            return result
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return _eval(body, env) if _eval(test, env) else _eval(orelse, env)
        case ast.List(elts=items) | ast.Tuple(elts=items):
            return [_eval(item, env) for item in items]
        case ast.Call(func=ast.Name(id=name), args=[arg]):
            return _FUNCTIONS[name](_eval(arg, env))
    raise ExpressionError(f"unsupported expression part {type(node).__name__}")


def check(source: str) -> str:
    """Pydantic validator: the expression parses and uses only allowed parts."""
    parse(source)
    return source


_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_BAD_TEMPLATE = re.compile(r"\{\{(?!\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\})")


def template_names(text: str) -> set[str]:
    """The variables a `{{ name }}` template uses."""
    return set(_TEMPLATE.findall(text))


def check_template(text: str) -> str:
    """Pydantic validator: every `{{` opens a plain `{{ name }}` placeholder."""
    if _BAD_TEMPLATE.search(text):
        raise ValueError(f"bad template {text!r}: use {{{{ name }}}} with a variable name")
    return text


def render(text: str, variables: Mapping[str, Any]) -> str:
    """Fill `{{ name }}` placeholders; a variable that is not set is an ExpressionError."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ExpressionError(f"variable {name!r} is not set (in {text!r})")
        value = variables[name]
        return "" if value is None else str(value)

    return _TEMPLATE.sub(fill, text)
