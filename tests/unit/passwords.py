"""Password hashes for the tests' web apps: each hash is made once a run, at a low scrypt
cost (the hash carries its parameters, so logging in checks it at that cost too). The
real cost, ~60 ms a hash and as much a login, is tested in tests/unit/web/test_auth.py."""

from __future__ import annotations

from functools import cache

from hotline.web.auth import hash_password

#: scrypt's N for the tests' users (the default is 2**14).
TEST_COST = 2**8


@cache
def hashed(password: str) -> str:
    """`password`'s hash (the same salt for every user that has it: fine for tests)."""
    return hash_password(password, cost=TEST_COST)
