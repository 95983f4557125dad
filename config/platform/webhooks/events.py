"""The webhook event types, registered by the app that owns them.

The platform delivers messages; it does not know what they are about. Each app registers its
types at `AppConfig.ready()` (the money domain its `reward.*` and `payout.*`, the rules app
`event.failed`), and whatever checks a subscription or emits a message asks this registry.
Registration order is the order clients see (the API's enum, the admin's checkboxes, error
messages), so a type keeps its place across releases.
"""

from __future__ import annotations

_EVENT_TYPES: list[str] = []


def webhook_event_types_register(*event_types: str) -> None:
    """Add event types (idempotent: a type registered again keeps its place)."""
    for event_type in event_types:
        if event_type not in _EVENT_TYPES:
            _EVENT_TYPES.append(event_type)


def webhook_event_types() -> tuple[str, ...]:
    """Every registered type, in registration order."""
    return tuple(_EVENT_TYPES)


def webhook_event_type_known(event_type: str) -> bool:
    return event_type in _EVENT_TYPES
