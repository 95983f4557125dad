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
    # The external rail (SPEC §13): one per item; the company pays, then confirms or fails it.
    "payout.requested",
)


def register() -> None:
    webhook_event_types_register(*WEBHOOK_EVENT_TYPES)
