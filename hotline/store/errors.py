"""Errors the store raises."""

from __future__ import annotations


class StoreError(Exception):
    """Base class for store errors."""


class StoreUnavailable(StoreError):
    """The database could not be reached (or stayed locked) for the whole retry window."""


class UnknownContact(StoreError, LookupError):
    """No contact has the given id."""


class UnknownCustomer(StoreError, LookupError):
    """No customer has the given id."""
