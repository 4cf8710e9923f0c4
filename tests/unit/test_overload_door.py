"""The overload door the dialplan applies before Stasis (hotline/overload.py `Door`,
dialplan/extensions.conf.j2): which limits it carries for which settings, how it is
rendered, and the controller counting the refusals it is told of."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hotline.overload import Admission, Door, Load, OverloadSettings, dialplan_door

HOME = Path(__file__).resolve().parents[2]


def render(settings: OverloadSettings) -> str:
    """hotline-public of the dialplan rendered with these overload settings."""
    env = Environment(loader=FileSystemLoader(HOME / "dialplan"), undefined=StrictUndefined)
    asterisk = SimpleNamespace(agi_numbers={"310": "main"}, agi_bind="127.0.0.1", agi_port=4573)
    text = env.get_template("extensions.conf.j2").render(
        numbers=["800"],
        ari_app="hotline",
        asterisk=asterisk,
        fragment=False,
        door=dialplan_door(settings),
    )
    return text[text.index("[hotline-public]") : text.index("[hotline-agents]")]


def test_no_limit_or_the_message_answer_leaves_the_door_to_the_controller() -> None:
    assert dialplan_door(OverloadSettings()) is None  # the latency backstops only
    assert dialplan_door(OverloadSettings(max_calls=5, answer="message")) is None
    plain = render(OverloadSettings())
    assert "exten => 800,1,Stasis(hotline,inbound)" in plain
    assert "GROUP" not in plain and "UserEvent" not in plain


def test_busy_and_congestion_hang_up_with_their_cause() -> None:
    assert dialplan_door(OverloadSettings(max_calls=5)) == Door(5, None, 1, 17)
    assert dialplan_door(OverloadSettings(max_calls=5, answer="congestion")) == Door(5, None, 1, 34)


def test_the_rate_is_counted_in_windows_of_burst_over_rate_seconds() -> None:
    # One second's worth by default, rounded to whole calls.
    assert dialplan_door(OverloadSettings(max_rate=51.2)) == Door(None, 51, 1, 17)
    # A burst of 2 at 0.2 a second: 2 in each 10 s.
    assert dialplan_door(OverloadSettings(max_rate=0.2, max_burst=2)) == Door(None, 2, 10, 17)
    # Under one a second with no burst: one call in each 1/rate seconds.
    assert dialplan_door(OverloadSettings(max_rate=0.25)) == Door(None, 1, 4, 17)
    # A burst under one second's worth: one-second windows that keep the rate.
    assert dialplan_door(OverloadSettings(max_rate=30, max_burst=10)) == Door(None, 30, 1, 17)
    # A window rounded to whole seconds lets in the rate times its length.
    assert dialplan_door(OverloadSettings(max_rate=0.3, max_burst=2)) == Door(None, 2, 7, 17)
    assert dialplan_door(OverloadSettings(max_rate=2.5, max_burst=4)) == Door(None, 5, 2, 17)


def test_every_hotline_number_passes_the_door_before_stasis_or_agi() -> None:
    text = render(OverloadSettings(max_calls=431, max_rate=51.2))
    for entry in ("exten => 800,1,", "exten => 310,1,", "exten => _[0-9+*#].,1,"):
        block = text[text.index(entry) :].split("\n\n")[0]
        lines = block.splitlines()
        door = [n for n, line in enumerate(lines) if "GROUP_COUNT" in line]
        goes_on = [n for n, line in enumerate(lines) if "Stasis(" in line or "AGI(" in line]
        assert door and goes_on and max(door) < goes_on[0], block
        assert "GotoIf($[${GROUP_COUNT(in@hotline_calls)} >= 431]?full)" in block
        assert "Set(HOTLINE_WINDOW=${EPOCH})" in block
        # Counted under a lock, in a count a caller's hang-up does not take back.
        assert "Set(HOTLINE_LOCKED=${LOCK(hotline_rate)})" in block
        assert "(counted),GotoIf($[${GLOBAL(HOTLINE_RATE_COUNT)} >= 51]?fast)" in block
        assert "Set(GLOBAL(HOTLINE_RATE_COUNT)=$[${GLOBAL(HOTLINE_RATE_COUNT)} + 1])" in block
        assert block.count("${UNLOCK(hotline_rate)}") == 2  # let in, and turned away
        assert " same => n(full),UserEvent(HotlineRefused,Reason: max_calls)" in block
        assert " same => n,UserEvent(HotlineRefused,Reason: max_rate)" in block
        assert block.count("Hangup(17)") == 2


def test_a_window_longer_than_a_second_starts_at_its_multiple_of_the_clock() -> None:
    text = render(OverloadSettings(max_rate=0.2, max_burst=2, answer="congestion"))
    assert "Set(HOTLINE_WINDOW=$[${EPOCH} - ${EPOCH} % 10])" in text
    assert "max_calls" not in text  # no call limit set: no such check
    assert "Hangup(34)" in text


def test_the_door_s_refusals_are_counted_by_reason_and_other_text_ignored() -> None:
    admission = Admission(OverloadSettings(max_calls=5), lambda: Load(calls=0))
    admission.turned_away_at_door("max_calls")
    admission.turned_away_at_door("max_rate")
    admission.turned_away_at_door("max_calls")
    admission.turned_away_at_door("")  # an event with no reason: not a refusal we know
    admission.turned_away_at_door("nonsense")
    view = admission.view()
    assert view["refused"] == 3
    assert view["refused_by"] == {"max_calls": 2, "max_rate": 1, "loop_lag": 0, "ari_latency": 0}
    assert view["admitted"] == 0


def test_with_the_rate_at_the_door_the_controller_keeps_no_second_bucket() -> None:
    now = [0.0]
    settings = OverloadSettings(max_rate=1.0)
    here = Admission(settings, lambda: Load(calls=0), clock=lambda: now[0])
    at_door = Admission(settings, lambda: Load(calls=0), lambda: now[0], rate_at_door=True)
    assert [here.decide() for _ in range(3)] == [None, "max_rate", "max_rate"]
    # The dialplan's window decided these callers: all that reach Stasis are taken.
    assert [at_door.decide() for _ in range(3)] == [None, None, None]
    # The other limits still hold in the controller.
    full = Admission(OverloadSettings(max_calls=1, max_rate=1.0), lambda: Load(calls=1))
    assert full.decide() == "max_calls"
