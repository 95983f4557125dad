"""The redirect's database calls without Django's per-request connection ping.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before a request's first query on a
persistent connection, to find one that died between requests. On the redirect that is a third
of its round trips (lookup, insert, ping) or, with the link cache, half of them. Here the
statement itself is the check: on a connection that turns out dead (OperationalError or
InterfaceError outside a transaction) the connection is closed and the statement runs once
more on a new one, which is what the ping would have led to."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connections

T = TypeVar("T")


def unpinged(db: str, statement: Callable[[], T], *, retry: Callable[[], T] | None = None) -> T:
    """Run `statement` (its own transaction: autocommit) without the ping; on a dead connection
    run `retry` (default: `statement` again) on a fresh one. Inside a transaction, or when the
    connection was not open yet, nothing changes."""
    conn = connections[db]
    if conn.in_atomic_block or conn.connection is None:
        return statement()
    conn.health_check_done = True  # type: ignore[attr-defined]  # (not in django-stubs)
    try:
        return statement()
    except (OperationalError, InterfaceError):
        if conn.in_atomic_block:
            raise
        conn.close()
        return (retry or statement)()
