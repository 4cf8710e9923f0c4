"""Rich messages: what is accepted, what is refused (with the field and why), the text
fallback for channels without cards."""

from __future__ import annotations

import pytest

from hotline.messages import (
    MAX_BUTTONS,
    Card,
    RichMessageError,
    choices,
    dump,
    fallback_text,
    parse_rich,
)

CARD = {
    "type": "card",
    "title": "Roaming <b>abroad</b>",
    "text": "Turn it on in the app. <script>alert(1)</script>",
    "image": "https://example.com/roaming.png",
    "buttons": [
        {"label": "Read more", "url": "https://example.com/roaming"},
        {"label": "Talk to an agent", "value": "agent"},
    ],
}


def test_a_card_is_kept_as_typed_markup_included() -> None:
    card = parse_rich(CARD)
    assert isinstance(card, Card)
    # Markup is text: kept as it is, escaped by whoever shows it.
    assert card.title == "Roaming <b>abroad</b>"
    assert dump(card) == CARD
    assert fallback_text(card) == (
        "Roaming <b>abroad</b>\nTurn it on in the app. <script>alert(1)</script>\n"
        "Read more: https://example.com/roaming\nagent. Talk to an agent"
    )
    assert choices(card) == [{"value": "agent", "label": "Talk to an agent"}]


@pytest.mark.parametrize(
    ("data", "fallback"),
    [
        (
            {"type": "link", "url": "https://a.example/x", "title": "Tariffs"},
            "Tariffs: https://a.example/x",
        ),
        ({"type": "link", "url": "http://a.example/"}, "http://a.example/"),
        (
            {"type": "image", "url": "https://a.example/i.png", "caption": "Map"},
            "Map\nhttps://a.example/i.png",
        ),
        (
            {
                "type": "file",
                "attachment": "0c1d-22",
                "filename": "bill.pdf",
                "content_type": "application/pdf",
                "size": 1200,
            },
            "bill.pdf",
        ),
        ({"type": "location", "latitude": 55.75, "longitude": 37.6175}, "55.750000, 37.617500"),
        (
            {"type": "location", "latitude": -33.9, "longitude": 151.2, "title": "Office"},
            "Office (-33.900000, 151.200000)",
        ),
    ],
)
def test_each_kind_and_its_text(data: dict[str, object], fallback: str) -> None:
    message = parse_rich(data)
    assert fallback_text(message) == fallback
    assert parse_rich(dump(message)) == message


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("card", "a rich message is a JSON object with a `type`"),
        ({"type": "video", "url": "https://a.example"}, "unknown rich message type 'video'"),
        (
            {"type": "link", "url": "javascript:alert(1)"},
            "link: url: only http and https addresses are sent (scheme 'javascript')",
        ),
        ({"type": "link", "url": "JavaScript:alert(1)"}, "only http and https addresses are sent"),
        ({"type": "image", "url": "data:image/png;base64,AAAA"}, "image: url: only http and https"),
        (
            {"type": "link", "url": "/relative/page"},
            "link: url: only http and https addresses are sent (scheme 'none')",
        ),
        ({"type": "link", "url": "https://"}, "link: url: a web address needs a host"),
        ({"type": "link", "url": "https://u:p@a.example/"}, "with a user name or password"),
        (
            {"type": "link", "url": "https://a.example/\njavascript:x"},
            "no spaces or control characters",
        ),
        (
            {"type": "link", "url": "https://a.example/" + "x" * 2000},
            "link: url: String should have at most 2000",
        ),
        ({"type": "card", "title": ""}, "card: title: String should have at least 1"),
        ({"type": "card", "title": "x" * 201}, "card: title: String should have at most 200"),
        (
            {"type": "card", "title": "T", "text": "x" * 4001},
            "card: text: String should have at most 4000",
        ),
        ({"type": "card", "title": "T\x00"}, "card: title: text has no NUL characters"),
        (
            {"type": "card", "title": "T", "image": "javascript:alert(1)"},
            "card: image: only http and https",
        ),
        (
            {
                "type": "card",
                "title": "T",
                "buttons": [{"label": "Go", "url": "javascript:alert(1)"}],
            },
            "card: buttons.0.url: only http and https",
        ),
        (
            {"type": "card", "title": "T", "buttons": [{"label": "Go"}]},
            "a button has either a url or a value",
        ),
        (
            {
                "type": "card",
                "title": "T",
                "buttons": [{"label": "Go", "value": "1", "url": "https://a.example"}],
            },
            "a button has either a url or a value",
        ),
        (
            {
                "type": "card",
                "title": "T",
                "buttons": [{"label": "b", "value": "1"}] * (MAX_BUTTONS + 1),
            },
            "card: buttons: List should have at most 8",
        ),
        (
            {"type": "card", "title": "T", "onclick": "x"},
            "card: onclick: Extra inputs are not permitted",
        ),
        (
            {
                "type": "file",
                "attachment": "a1",
                "filename": "big.pdf",
                "content_type": "application/pdf",
                "size": 10 * 1024 * 1024 + 1,
            },
            "file: size: Input should be less than or equal to 10485760",
        ),
        (
            {
                "type": "file",
                "attachment": "../etc",
                "filename": "f",
                "content_type": "a/b",
                "size": 1,
            },
            "file: attachment: String should match pattern",
        ),
        (
            {"type": "location", "latitude": 91, "longitude": 0},
            "location: latitude: Input should be less than or equal to 90",
        ),
        ({"type": "location", "latitude": float("nan"), "longitude": 0}, "location"),
    ],
)
def test_refused_with_the_field_and_why(data: object, error: str) -> None:
    with pytest.raises(RichMessageError) as refused:
        parse_rich(data)
    assert error in str(refused.value)
