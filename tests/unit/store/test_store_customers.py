"""Customers: identity by phone number."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest

from hotline.store import Store, normalize_phone
from hotline.store.errors import UnknownCustomer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 (555) 010-2030", "+15550102030"),
        ("8 800 555-35-35", "88005553535"),
        ("+44.20.7946.0018", "+442079460018"),
        ("100", "100"),
        ("anonymous", None),
        ("", None),
        ("+", None),
        ("12a4", None),
        ("1+23", None),
    ],
)
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


async def test_customer_for_phone_creates_once(store: Store) -> None:
    first = await store.customer_for_phone("+1 555 010 2030")
    assert first is not None
    assert first.phone == "+15550102030"
    assert first.attributes == {}
    assert first.created_at.tzinfo is UTC
    again = await store.customer_for_phone("+1 (555) 010-2030")
    assert again == first
    other = await store.customer_for_phone("+15550102031")
    assert other is not None and other.id != first.id


async def test_customer_for_phone_without_create(store: Store) -> None:
    assert await store.customer_for_phone("+15550100", create=False) is None
    created = await store.customer_for_phone("+15550100")
    assert await store.customer_for_phone("+1 555 0100", create=False) == created


async def test_customer_for_phone_refuses_non_numbers(store: Store) -> None:
    with pytest.raises(ValueError, match="not a phone number: 'anonymous'"):
        await store.customer_for_phone("anonymous")


async def test_concurrent_lookups_make_one_customer(store: Store) -> None:
    found = await asyncio.gather(*(store.customer_for_phone("+15550199") for _ in range(8)))
    assert len({c.id for c in found if c}) == 1


async def test_customer_by_id(store: Store) -> None:
    created = await store.customer_for_phone("+15550100")
    assert created is not None
    assert await store.customer(created.id) == created
    assert await store.customer(created.id + 1000) is None


async def test_update_customer_sets_what_is_known(store: Store) -> None:
    customer = await store.customer_for_phone("+15550102030")
    assert customer is not None
    await store.update_customer(customer.id, display_name="Ann Example", language="en")
    again = await store.customer(customer.id)
    assert again is not None and again.display_name == "Ann Example" and again.language == "en"
    with pytest.raises(TypeError, match="cannot set phone"):
        await store.update_customer(customer.id, phone="+1")
    with pytest.raises(UnknownCustomer):
        await store.update_customer(999_999, display_name="Nobody")
