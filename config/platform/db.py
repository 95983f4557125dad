"""Database helpers shared by the hot paths (booking, API key lookup, idempotency, balances)."""

from __future__ import annotations

import functools
import sys
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections


@functools.cache
def _prepared_cursor_class() -> type:
    import psycopg
    from psycopg.types.numeric import Int8

    def typed(value: Any) -> Any:
        if type(value) is int:
            return Int8(value)
        if type(value) is list:
            return [typed(v) for v in value]
        return value

    class PreparedCursor(psycopg.Cursor):
        """Runs its statements as server-side prepared ones, planned once per connection:
        planning the booking statement took longer than running it (1.5 ms against 1.3 ms
        measured), and planning the balance read 1.7 ms against 0.6 ms. A prepared statement is
        kept per parameter types, and psycopg types an int by its size (int2, int4, int8):
        every int goes as int8, so one statement serves all amounts and ids."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            params = None if params is None else [typed(v) for v in params]
            return super().execute(query, params, **{**kwargs, "prepare": True})

    return PreparedCursor


def prepared_cursor(using: str = DEFAULT_DB_ALIAS) -> Any:
    """On a PostgreSQL database (`using`: the default one, or the alias a router chose), a
    Django cursor (query logging, execute wrappers, error translation, the per-request health
    check) over a psycopg cursor with server-side binding whose statements are prepared;
    elsewhere an ordinary cursor. Django turns psycopg's automatic preparing off
    (prepare_threshold None, for connection poolers); a threshold nothing reaches keeps it off
    for every other cursor while this one asks explicitly. LEDGER_PREPARED_STATEMENTS = False
    (for a pooler that cannot keep prepared statements, e.g. PgBouncer before 1.21 in
    transaction mode) uses an ordinary cursor. Parameters are sent typed (server-side
    binding), so a statement may need a cast where the type is not evident from its column."""
    db = connections[using]  # once: each `connection.x` is a thread-local lookup
    if db.vendor != "postgresql" or not getattr(settings, "LEDGER_PREPARED_STATEMENTS", True):
        return db.cursor()
    # What connection.cursor() does before creating a cursor: a connection that died since
    # the last request (a restarted server, pg_terminate_backend) is replaced, not used.
    db.close_if_health_check_failed()
    db.ensure_connection()
    conn = db.connection
    if conn.prepare_threshold is None:
        conn.prepare_threshold = sys.maxsize
    raw = _prepared_cursor_class()(conn)
    if db.queries_logged:
        return db.make_debug_cursor(raw)
    return db.make_cursor(raw)
