"""The catalog of triggers and the typed fields a rule on each trigger can read (SPEC §6).

Facts: ``event.*`` (the event's type, time and data), ``referred.*`` (the event's user),
``referrer.*`` (who referred them) and ``parent.*`` (the referrer's referrer). Participant
profiles are free-form, so any ``referred.<attr>`` / ``referrer.<attr>`` / ``parent.<attr>``
is allowed; the catalog types the common ones, and a typed field must be used as its type.
A program declares its own triggers and fields with
``{"triggers": {name: {"description": ..., "fields": {path: type}}}}``.
"""

from __future__ import annotations

import copy
from typing import Any, Final

FIELD_TYPES: Final = ("string", "number", "integer", "boolean", "datetime", "list")
PARTICIPANT_ROLES: Final = ("referred", "referrer", "parent")

_PARTICIPANT_FIELDS: Final = {
    "id": "string",
    "joined_at": "datetime",
    "referrals_count": "integer",
    "is_paid_user": "boolean",
    "subscription_plan": "string",
    "email": "string",
    "country": "string",
    "tags": "list",
}
_EVENT_FIELDS: Final = {"event.type": "string", "event.occurred_at": "datetime"}
_MONEY: Final = {"event.amount": "number", "event.currency": "string"}

BUILTIN_TRIGGERS: Final[dict[str, dict[str, Any]]] = {
    "signup": {
        "description": "a user signs up",
        "fields": {"event.source": "string", "event.referral_code": "string"},
    },
    "referral_created": {
        "description": "a referral is recorded",
        "fields": {"event.referral_code": "string", "event.channel": "string"},
    },
    "subscription_started": {
        "description": "a subscription starts",
        "fields": {
            **_MONEY,
            "event.plan": "string",
            "event.interval": "string",
            "event.subscription_id": "string",
        },
    },
    "purchase": {
        "description": "a purchase is made",
        "fields": {
            **_MONEY,
            "event.order_id": "string",
            "event.product": "string",
            "event.category": "string",
            "event.quantity": "integer",
        },
    },
    "refund": {
        "description": "a purchase is refunded",
        "fields": {**_MONEY, "event.original_event": "string", "event.reason": "string"},
    },
}


def _common_fields() -> dict[str, str]:
    fields = dict(_EVENT_FIELDS)
    for role in PARTICIPANT_ROLES:
        fields.update({f"{role}.{name}": kind for name, kind in _PARTICIPANT_FIELDS.items()})
    return fields


def catalog_for(custom: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full catalog: built-in triggers plus a program's custom triggers and fields.

    A custom trigger that shares a built-in's name adds fields to it (and may override the
    description).
    """
    common = _common_fields()
    triggers: dict[str, dict[str, Any]] = {
        name: {"description": spec["description"], "fields": {**common, **spec["fields"]}}
        for name, spec in BUILTIN_TRIGGERS.items()
    }
    for name, spec in ((custom or {}).get("triggers") or {}).items():
        entry = triggers.setdefault(
            name, {"description": name.replace("_", " "), "fields": dict(common)}
        )
        if spec.get("description"):
            entry["description"] = spec["description"]
        entry["fields"].update(spec.get("fields") or {})
    return copy.deepcopy({"triggers": triggers})


def field_type(catalog: dict[str, Any], trigger: str, path: str) -> str | None:
    """The catalog type of ``path`` on ``trigger``; None for a free-form profile attribute.

    Raises KeyError when the field is unknown (an ``event.*`` key the trigger does not offer).
    """
    fields = catalog["triggers"][trigger]["fields"]
    if path in fields:
        return fields[path]
    role, _, rest = path.partition(".")
    if role in PARTICIPANT_ROLES and rest:
        return None
    raise KeyError(path)
