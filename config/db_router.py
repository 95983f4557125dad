"""The read replica (SPEC §15, DATABASE_REPLICA_URL): explicit, never implicit.

Django's router cannot tell a read that decides a write (is this idempotency key used? is the
balance enough? is the batch approved?) from a list a person looks at, so nothing is sent to the
replica by default. A read that tolerates lag asks for it, either on its queryset
(`.using(replica_alias())`, which lasts however late the queryset is evaluated) or for a block
of code (`with replica_reads():`, for raw SQL and helpers that build their own querysets). The
list of such reads is in docs/OPERATIONS.md ("Read replica").

Objects read from the replica keep reading related rows there (Django follows the instance's
database), but saving one writes to the primary: every write goes to "default".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

REPLICA = "replica"

_replica_reads: ContextVar[bool] = ContextVar("replica_reads", default=False)


def replica_alias() -> str:
    """The alias for a lag-tolerant read: the replica when one is configured, else the primary."""
    return REPLICA if REPLICA in settings.DATABASES else DEFAULT_DB_ALIAS


def replica_connection_alias() -> str:
    """The alias raw SQL of a lag-tolerant read should use (inside `replica_reads()`: the
    replica if configured; elsewhere the primary)."""
    return replica_alias() if _replica_reads.get() else DEFAULT_DB_ALIAS


@contextlib.contextmanager
def replica_reads() -> Iterator[str]:
    """Within the block, ORM reads without an explicit database (and raw SQL that asks
    `replica_connection_alias()`) go to the replica, if one is configured. Yields the alias.
    Never wrap a read that decides a write in it."""
    token = _replica_reads.set(True)
    try:
        yield replica_alias()
    finally:
        _replica_reads.reset(token)


class PrimaryReplicaRouter:
    """Writes to the primary; reads to the replica only inside `replica_reads()` (else to the
    instance's database or the primary, as without a router); migrations on the primary."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        if _replica_reads.get():
            return replica_alias()
        return None

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        same_data = {DEFAULT_DB_ALIAS, REPLICA}
        if obj1._state.db in same_data and obj2._state.db in same_data:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None
