"""Fixtures for the report tests: a migrated store on SQLite (and PostgreSQL when
marked pg), and the golden event log written into it."""

from __future__ import annotations

import pytest

from hotline.store import Store
from tests.unit.reports.golden import write_golden_log


@pytest.fixture
async def golden(store: Store) -> Store:
    """The store holding the golden log (tests/unit/reports/golden.py)."""
    await write_golden_log(store)
    return store
