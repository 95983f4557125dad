"""Helpers for the operations tests: the database URL of the test database itself, for the
servers and processes a test starts."""

from __future__ import annotations

import socket

from django.db import connection

# Fixtures the operations tests share with the ledger and rules tests.
from tests.ledger.operator_fixtures import confirmed_reward  # noqa: F401
from tests.rules.conftest import publish, refer  # noqa: F401


def database_url_of_this_test() -> str:
    """A DATABASE_URL naming the database this test runs on (its rows are committed in a
    transactional test, so another process sees them)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
