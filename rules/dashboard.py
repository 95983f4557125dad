"""The referral domain on the admin index (config.platform.admin.dashboard), registered at
start-up: the failed events card and the program's top referrers (by referrals, with what they
earned in minor units)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from config.platform.admin.dashboard import (
    attention_card_register,
    changelist_url,
    count_item,
    program_panel_register,
)
from config.platform.models import Program
from rules.models import Event
from rules.rewards.dashboard import VIEW_REWARDS
from rules.selectors import top_referrers

TOP = 10


def failed_event_items(request: HttpRequest) -> list[dict[str, Any]]:
    url = changelist_url(request, Event, "status__exact=failed")
    if url is None:
        return []
    failed = Event.objects.filter(status=Event.Status.FAILED).count()
    return [
        count_item("failed_events", failed, "failed event", "failed events", url, level="alert")
    ]


def top_referrers_panel(program: Program) -> dict[str, Any]:
    # Participants who referred someone, by how many, with what they earned.
    return {"top_referrers": top_referrers(program=program, limit=TOP)}


def register() -> None:
    attention_card_register("rules.failed_events", failed_event_items, order=30)
    program_panel_register("rules.top_referrers", top_referrers_panel, permission=VIEW_REWARDS)
