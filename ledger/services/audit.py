from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from ledger.context import current_request_id
from ledger.models import AuditEntry, Program


def _jsonable(value: Any) -> Any:
    import json

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
        before=_jsonable(before),
        after=_jsonable(after),
        reason=reason,
        request_id=current_request_id(),
    )
