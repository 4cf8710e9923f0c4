"""The rate limit, webhook signatures, attachment checks and chat settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chat_bridge.attachments import AttachmentRefused, check_type, safe_filename
from chat_bridge.messengers import sign, signature_ok
from chat_bridge.ratelimit import TokenBucket
from hotline.chat_settings import ChatConfig

TYPES = ["image/png", "image/jpeg", "application/pdf", "text/plain"]


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    assert bucket.refused == 1
    now[0] += 0.5  # one token back
    assert [bucket.allow() for _ in range(2)] == [True, False]
    now[0] += 100  # never more than the burst
    assert sum(bucket.allow() for _ in range(10)) == 3
    assert bucket.refused == 7
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)


def test_hmac_signatures() -> None:
    body = b'{"user": "u1", "id": "1", "text": "hi"}'
    good = sign("s3cret-s3cret-s3cret", body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert signature_ok("s3cret-s3cret-s3cret", body, good)
    assert signature_ok("s3cret-s3cret-s3cret", body, f"  {good} ")
    assert not signature_ok("s3cret-s3cret-s3cret", body + b" ", good)
    assert not signature_ok("another-secret-0000", body, good)
    assert not signature_ok("s3cret-s3cret-s3cret", body, None)
    assert not signature_ok("s3cret-s3cret-s3cret", body, good.upper())


def test_attachment_types_are_checked_against_the_bytes() -> None:
    assert check_type("image/png", b"\x89PNG\r\n\x1a\n....", TYPES) == "image/png"
    assert check_type("Text/Plain; charset=utf-8", "héllo".encode(), TYPES) == "text/plain"
    for kind, body, code in [
        ("text/html", b"<script>", "type_not_allowed"),
        ("", b"x", "type_not_allowed"),
        ("image/png", b"<svg onload=alert(1)>", "type_mismatch"),
        ("application/pdf", b"MZ\x90\x00", "type_mismatch"),
        ("text/plain", b"\xff\xfe\x00", "type_mismatch"),
        ("text/plain", b"a\x00b", "type_mismatch"),
    ]:
        with pytest.raises(AttachmentRefused) as refused:
            check_type(kind, body, TYPES)
        assert refused.value.code == code


def test_file_names_lose_paths_and_odd_characters() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\photo 1.png") == "photo 1.png"
    assert safe_filename('a<script>"b.png') == "a_script_b.png"
    assert safe_filename("...") == "file"


def test_chat_settings_refuse_incomplete_messengers() -> None:
    with pytest.raises(ValidationError, match="needs token and webhook_secret"):
        ChatConfig.model_validate({"telegram": {"enabled": True}})
    with pytest.raises(ValidationError, match="needs secret and reply_url"):
        ChatConfig.model_validate({"webhook": {"enabled": True, "secret": "x" * 20}})
    with pytest.raises(ValidationError, match="at least 16"):
        ChatConfig.model_validate({"webhook": {"secret": "short"}})
    with pytest.raises(ValidationError):
        ChatConfig.model_validate({"wrap_up_codes": []})
    assert ChatConfig().flow == "chat"
