"""What an agent's phone shows for a caller."""

from voice.caller_id import caller_id


def test_name_from_the_customer_record_and_the_number() -> None:
    assert caller_id("Ann Example", "5551234") == '"Ann Example" <5551234>'


def test_number_alone_without_a_name() -> None:
    assert caller_id(None, "5551234") == "5551234"
    assert caller_id("  ", "5551234") == "5551234"


def test_a_name_cannot_break_the_header() -> None:
    assert caller_id('Evil" <sip:x@y>\r\nX: 1', "5551234") == '"Evil sip:x@yX: 1" <5551234>'
