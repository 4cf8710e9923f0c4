"""The FastAGI -> Stasis queue hand-off keeps everything the queue node said."""

import pytest

from hotline.flows.services import QueueRequest
from voice.handoff import BadHandoff, decode, encode


def test_round_trip_keeps_priority_skills_and_wait() -> None:
    request = QueueRequest("support", 5, {"english": 50, "billing": 10}, 90.0, "ru", {})
    args = encode(request, "c-1")
    assert args == ["support", "c-1", "ru", "5", "billing=10+english=50", "90"]
    back, contact = decode(args)
    assert contact == "c-1"
    assert (back.queue, back.priority, dict(back.skills), back.max_wait, back.language) == (
        "support", 5, {"english": 50, "billing": 10}, 90.0, "ru",
    )  # fmt: skip


def test_no_skills_and_the_queues_own_wait() -> None:
    request, _ = decode(encode(QueueRequest("q", 0, {}, None, "en", {}), "c"))
    assert request.skills == {} and request.max_wait is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["support", "c", "en"], "expected queue,contact,language,priority,skills,max_wait"),
        (["support", "c", "en", "high", "-", "-"], "bad queue hand-off"),
        (["support", "c", "en", "1", "english", "-"], "bad queue hand-off"),
    ],
)
def test_bad_arguments_are_refused_clearly(args: list[str], message: str) -> None:
    with pytest.raises(BadHandoff, match=message):
        decode(args)
