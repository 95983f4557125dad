"""Buffered click inserts, when the setting CLICK_BUFFER_SECONDS is above 0 (unset or 0, the
default, is off): the redirect appends its click to a per-process buffer and answers; a thread
of the process writes the buffer as one multi-row INSERT every CLICK_BUFFER_SECONDS, or sooner
when CLICK_BUFFER_SIZE (500 when unset) clicks wait.

The trade (docs/PERFORMANCE.md, "Referral clicks"; SPEC section 11 allows "a cheap write or a buffered
one"): a click is in the database up to CLICK_BUFFER_SECONDS after its redirect, so a
conversion reported within that moment finds its click id `unknown`; and a process killed
without a chance to clean up (SIGKILL, the OOM killer, a power cut) loses the clicks it held,
at most one interval's worth. A graceful stop (gunicorn's SIGTERM, a worker reaching
max_requests) writes them (atexit). A failed write keeps the clicks for the next attempt, up to
MAX_HELD of them; past that the oldest are dropped and logged. Nothing else changes: the click
id, cookie and redirect are the same, and a click's id is its primary key, so a batch that is
written twice (a retry after an unclear failure) stores each click once."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from psycopg.errors import UniqueViolation

logger = logging.getLogger(__name__)

MAX_HELD = 100_000


class ClickBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[Sequence[Any]] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._target: tuple[str, str, str, float] | None = None

    def add(
        self, params: Sequence[Any], *, db: str, table: str, columns: str, seconds: float, size: int
    ) -> None:
        """Hold one click's column values (in `columns` order) for the next write."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's clicks and thread stay
                self._rows, self._thread, self._pid = [], None, os.getpid()
            self._target = (db, table, columns, seconds)
            self._rows.append(params)
            full = len(self._rows) >= size
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="click-buffer", daemon=True)
                self._thread.start()
        if full:
            self._wake.set()

    def _run(self) -> None:
        while True:
            seconds = self._target[3] if self._target else 0.2
            self._wake.wait(seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write what is held now; returns how many clicks were written."""
        with self._lock:
            rows, self._rows = self._rows, []
            target = self._target
        if not rows or target is None:
            return 0
        db, table, columns, _ = target
        try:
            _write(db, table, columns, rows)
        except Exception:
            logger.exception("click buffer: writing %d clicks failed; kept for later", len(rows))
            connections[db].close()  # a new connection next time
            with self._lock:
                self._rows[:0] = rows
                if len(self._rows) > MAX_HELD:
                    dropped = len(self._rows) - MAX_HELD
                    del self._rows[:dropped]
                    logger.error("click buffer: dropped the %d oldest clicks", dropped)
            return 0
        return len(rows)


def _write(db: str, table: str, columns: str, rows: list[Sequence[Any]]) -> None:
    """One transaction: on PostgreSQL a COPY (no SQL text to build or parse per batch: the
    thread shares the GIL with the requests, so it must cost them little), elsewhere an
    executemany. A COPY that meets a click already stored (a batch written twice) is redone as
    inserts that skip the clicks already there."""
    conn = connections[db]
    single = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(rows[0]))})"
    skip_stored = f"{single} ON CONFLICT (id) DO NOTHING"
    if conn.vendor != "postgresql":
        with transaction.atomic(using=db), conn.cursor() as cursor:
            cursor.executemany(skip_stored, rows)
        return
    try:
        with transaction.atomic(using=db), conn.cursor() as cursor:
            _async_commit(cursor)
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    except (IntegrityError, UniqueViolation):  # COPY is psycopg's own: its error, untranslated
        with transaction.atomic(using=db), conn.cursor() as cursor:
            _async_commit(cursor)
            cursor.executemany(skip_stored, rows)


def _async_commit(cursor: Any) -> None:
    if settings.CLICK_ASYNC_COMMIT:  # not waiting for the WAL flush, as the unbuffered insert
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


buffer = ClickBuffer()
atexit.register(buffer.flush)
