from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from config.platform.context import current_request_id
from config.platform.models import AuditEntry, Program

# Who is changing things when the change itself cannot say: signal receivers (user, group and
# permission changes) read it. The admin sets it around its views; anything else (a shell, a
# management command, a data fix) is "system".
_actor_var: contextvars.ContextVar[str] = contextvars.ContextVar("audit_actor", default="system")


def current_actor() -> str:
    return _actor_var.get()


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Changes made inside the block are audited as made by `actor`."""
    token = _actor_var.set(actor)
    try:
        yield
    finally:
        _actor_var.reset(token)


def audit_jsonable(value: Any) -> Any:
    """A value as an audit entry's before/after stores it (JSON through DjangoJSONEncoder)."""
    return None if value is None else json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def audit_record(
    *,
    program: Program | None,
    actor: str,
    action: str,
    object_type: str,
    object_id: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Append one audit entry. Call it inside the same database transaction as the change, so
    the entry exists exactly when the change does."""
    return AuditEntry.objects.create(
        program=program,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=audit_jsonable(before),
        after=audit_jsonable(after),
        reason=reason,
        request_id=current_request_id(),
    )


def fields_update_audited(
    locked: Any,
    changes: dict[str, Any],
    *,
    program: Program,
    actor: str,
    action: str,
    object_type: str,
    object_id: Any,
    reason: str = "",
) -> bool:
    """Apply `changes` to a row the caller holds locked (select_for_update, inside its
    transaction), saving and auditing only the fields whose value changes, with their values
    before and after. Returns whether anything changed."""
    before = {f: getattr(locked, f) for f in changes if getattr(locked, f) != changes[f]}
    if not before:
        return False
    for field in before:
        setattr(locked, field, changes[field])
    locked.save(update_fields=list(before))
    audit_record(
        program=program,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after={f: changes[f] for f in before},
        reason=reason,
    )
    return True


def audit_record_sql(
    *,
    source: str,
    program: Program | None,
    actor: str,
    action: str,
    object_type: str,
    object_id: Any = None,
    object_id_sql: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    after_sql: str = "",
    reason: str = "",
) -> tuple[str, list[Any]]:
    """`audit_record` as the body of a CTE, for a change written by one SQL statement
    (PostgreSQL): `INSERT ... SELECT ... FROM {source}` appends the same entry once per row of
    `source`, so it exists exactly when the change does, without a round trip of its own.
    `object_id_sql` (text) and `after_sql` (jsonb, merged over `after`) may use `source`'s
    columns, e.g. an id the statement has just generated. Returns (sql, params)."""
    object_id_expr = object_id_sql or "%s"
    after_expr = "%s::jsonb" + (f" || {after_sql}" if after_sql else "")
    sql = (
        "INSERT INTO ledger_auditentry (program_id, at, actor, action, object_type, object_id,"
        " before, after, reason, request_id)"
        f" SELECT %s::bigint, %s, %s, %s, %s, {object_id_expr}, %s::jsonb, {after_expr}, %s, %s"
        f" FROM {source}"
    )
    params: list[Any] = [program.pk if program else None, timezone.now(), actor, action]
    params.append(object_type)
    if not object_id_sql:
        params.append(str(object_id))
    params += [_json(before), _json({} if after is None and after_sql else after)]
    params += [reason, current_request_id()]
    return sql, params


def _json(value: Any) -> str | None:
    """The jsonb text `audit_jsonable` would store (JSON null stays SQL NULL, as in the ORM)."""
    return None if value is None else json.dumps(value, cls=DjangoJSONEncoder)
