"""The money domain's webhook event types (docs/WEBHOOKS.md), registered with the platform at
start-up (RulesConfig.ready()). The order is the one clients see in the API's enum and the
admin's checkboxes."""

from __future__ import annotations

from config.platform.webhooks.events import webhook_event_types_register

WEBHOOK_EVENT_TYPES = (
    "reward.created",
    "reward.confirmed",
    "reward.reversed",
    "reward.paid",
    "reward.clawed_back",
    "payout.executed",
)


def register() -> None:
    webhook_event_types_register(*WEBHOOK_EVENT_TYPES)
