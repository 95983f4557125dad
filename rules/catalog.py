"""The catalog of triggers and the typed fields a rule on each trigger can read (SPEC §6).

Facts: ``event.*`` (the event's type, time and data), ``referred.*`` (the event's user),
``referrer.*`` (who referred them) and ``parent.*`` (the referrer's referrer). Participant
profiles are free-form, so any ``referred.<attr>`` / ``referrer.<attr>`` / ``parent.<attr>``
is allowed; the catalog types the common ones, and a typed field must be used as its type.
A program declares its own triggers and fields with
``{"triggers": {name: {"description": ..., "fields": {path: type}, "money": [path]}}}``.

Money: each trigger lists under ``"money"`` the fields that hold an amount of money in minor
units of the program's currency (``event.amount`` on purchase, the subscription triggers and
refund). Their type stays ``number`` (or ``integer``) for validation; the list tells the
builder and the explanation to show and take them in major units with the currency. A custom
trigger may declare its own money fields in the same list: each must be one of its
``number``/``integer`` fields.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Final

FIELD_TYPES: Final = ("string", "number", "integer", "boolean", "datetime", "list")
PARTICIPANT_ROLES: Final = ("referred", "referrer", "parent")
TRIGGER_RE: Final = re.compile(r"^[a-z][a-z0-9_]*$")  # as rules/schema.json's trigger
FIELD_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$")

_PARTICIPANT_FIELDS: Final = {
    "id": "string",
    "joined_at": "datetime",
    "referrals_count": "integer",
    "is_paid_user": "boolean",
    "subscription_plan": "string",
    "email": "string",
    "country": "string",
    "tags": "list",
    "tier": "string",
}
_EVENT_FIELDS: Final = {"event.type": "string", "event.occurred_at": "datetime"}
_MONEY: Final = {"event.amount": "number", "event.currency": "string"}
MONEY_FIELD_TYPES: Final = ("number", "integer")

BUILTIN_TRIGGERS: Final[dict[str, dict[str, Any]]] = {
    "signup": {
        "description": "a user signs up",
        "fields": {"event.source": "string", "event.referral_code": "string"},
    },
    "referral_created": {
        "description": "a referral is recorded",
        "fields": {
            "event.referrer": "string",
            "event.referral_code": "string",
            "event.channel": "string",
        },
    },
    "subscription_started": {
        "description": "a subscription starts",
        "fields": {
            **_MONEY,
            "event.plan": "string",
            "event.interval": "string",
            "event.subscription_id": "string",
        },
        "money": ["event.amount"],
    },
    "subscription_renewed": {
        "description": "a subscription renews (a later billing period is paid)",
        "fields": {
            **_MONEY,
            "event.plan": "string",
            "event.interval": "string",
            "event.subscription_id": "string",
        },
        "money": ["event.amount"],
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
        "money": ["event.amount"],
    },
    "refund": {
        "description": "a purchase is refunded",
        "fields": {**_MONEY, "event.original_event": "string", "event.reason": "string"},
        "money": ["event.amount"],
    },
}


def _common_fields() -> dict[str, str]:
    fields = dict(_EVENT_FIELDS)
    for role in PARTICIPANT_ROLES:
        fields.update({f"{role}.{name}": kind for name, kind in _PARTICIPANT_FIELDS.items()})
    return fields


def custom_catalog_errors(custom: Any) -> list[str]:
    """What is wrong with a program's custom catalog (empty when it is well formed)."""
    if custom in (None, {}):
        return []
    if not isinstance(custom, dict) or set(custom) - {"triggers"}:
        return ['the custom catalog is {"triggers": {name: {"description", "fields", "money"}}}']
    triggers = custom.get("triggers")
    if not isinstance(triggers, dict):
        return ['"triggers" must be an object of trigger name to definition']
    errors = []
    for name, spec in triggers.items():
        if not TRIGGER_RE.match(name) or len(name) > 64:
            errors.append(f"trigger {name!r}: a name matches ^[a-z][a-z0-9_]*$ (max 64)")
        if not isinstance(spec, dict) or set(spec) - {"description", "fields", "money"}:
            errors.append(f"trigger {name!r}: an object with 'description', 'fields', 'money'")
            continue
        if not isinstance(spec.get("description", ""), str):
            errors.append(f"trigger {name!r}: the description must be a string")
        fields = spec.get("fields", {})
        if not isinstance(fields, dict):
            errors.append(f"trigger {name!r}: 'fields' must be an object of path to type")
            continue
        for path, kind in fields.items():
            if not FIELD_RE.match(path):
                errors.append(f"trigger {name!r}: field {path!r} is not a dotted path")
            if kind not in FIELD_TYPES:
                errors.append(
                    f"trigger {name!r}: field {path!r} has type {kind!r}; "
                    f"known types: {', '.join(FIELD_TYPES)}"
                )
        errors += _money_errors(name, spec.get("money", []), fields)
    return errors


def _money_errors(name: str, money: Any, fields: dict[str, Any]) -> list[str]:
    """A custom trigger's "money" list names number/integer fields it has."""
    if not isinstance(money, list):
        return [f"trigger {name!r}: 'money' must be a list of field paths"]
    known = {**BUILTIN_TRIGGERS.get(name, {}).get("fields", {}), **fields}
    errors = []
    for path in money:
        if not isinstance(path, str):
            errors.append(f"trigger {name!r}: 'money' lists field paths, not {path!r}")
        elif known.get(path) not in MONEY_FIELD_TYPES:
            errors.append(
                f"trigger {name!r}: money field {path!r} must be one of the trigger's "
                "number or integer fields (an amount in minor units)"
            )
    return errors


def _well_formed_triggers(custom: Any) -> dict[str, dict[str, Any]]:
    """The parts of a custom catalog that are well formed; the rest is ignored, so one bad
    entry saved before validation existed cannot break every request of the program."""
    triggers = custom.get("triggers") if isinstance(custom, dict) else None
    if not isinstance(triggers, dict):
        return {}
    out = {}
    for name, spec in triggers.items():
        if not TRIGGER_RE.match(name) or not isinstance(spec, dict):
            continue
        fields = spec.get("fields")
        description = spec.get("description")
        money = spec.get("money")
        out[name] = {
            "description": description if isinstance(description, str) else "",
            "fields": {
                path: kind
                for path, kind in (fields.items() if isinstance(fields, dict) else ())
                if FIELD_RE.match(path) and kind in FIELD_TYPES
            },
            "money": [path for path in money if isinstance(path, str)]
            if isinstance(money, list)
            else [],
        }
    return out


def catalog_for(custom: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full catalog: built-in triggers plus a program's custom triggers and fields.

    A custom trigger that shares a built-in's name adds fields (and money fields) to it, and
    may override the description. Each trigger's "money" lists its fields that hold money in
    minor units of the program's currency (only number/integer fields it has).
    """
    common = _common_fields()
    triggers: dict[str, dict[str, Any]] = {
        name: {
            "description": spec["description"],
            "fields": {**common, **spec["fields"]},
            "money": list(spec.get("money", ())),
        }
        for name, spec in BUILTIN_TRIGGERS.items()
    }
    for name, spec in _well_formed_triggers(custom).items():
        entry = triggers.setdefault(
            name, {"description": name.replace("_", " "), "fields": dict(common), "money": []}
        )
        if spec["description"]:
            entry["description"] = spec["description"]
        entry["fields"].update(spec["fields"])
        for path in spec["money"]:
            if entry["fields"].get(path) in MONEY_FIELD_TYPES and path not in entry["money"]:
                entry["money"].append(path)
    return copy.deepcopy({"triggers": triggers})


def money_fields(catalog: dict[str, Any] | None, trigger: str | None = None) -> frozenset[str]:
    """The fields that hold money (minor units) on ``trigger``, or on any trigger when it is
    not given; the built-in catalog when ``catalog`` is None."""
    triggers = catalog["triggers"] if catalog is not None else BUILTIN_TRIGGERS
    if trigger is not None:
        return frozenset(triggers.get(trigger, {}).get("money", ()))
    return frozenset(path for spec in triggers.values() for path in spec.get("money", ()))


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
