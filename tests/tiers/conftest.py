"""Tier fixtures: the rules fixtures (publish, refer, ingest, process), a program with Bronze,
Silver and Gold, and a webhook endpoint subscribed to tier changes."""

from __future__ import annotations

import importlib
from datetime import datetime
from itertools import count

import pytest
from django.apps import apps
from django.utils import timezone

from config.platform.models import WebhookEndpoint
from rules.models import Event
from rules.tiers.models import Tier
from tests.conftest import ensure_groups
from tests.rules.conftest import (  # noqa: F401  (fixtures)
    _inline_processing,
    ingest,
    process,
    publish,
    refer,
)

BRONZE = {"window_days": 30}  # the floor: everyone who is a partner at all
SILVER = {"window_days": 30, "min_conversions": 2}
# 5,000.00 INR of referred revenue, 3 conversions and 2 active referrals.
GOLD = {
    "window_days": 30,
    "min_referred_revenue": 500000,
    "min_conversions": 3,
    "min_active_referrals": 2,
}


@pytest.fixture(autouse=True)
def _tier_grants(db):
    # A transactional test's flush deletes the groups and their grants: the project's first
    # (ensure_groups skips when the groups exist), then this app's.
    ensure_groups()
    importlib.import_module("rules.tiers.migrations.0001_initial").grant(apps, None)


@pytest.fixture
def tiers(program):
    return [
        Tier.objects.create(program=program, key="bronze", name="Bronze", rank=1, criteria=BRONZE),
        Tier.objects.create(program=program, key="silver", name="Silver", rank=2, criteria=SILVER),
        Tier.objects.create(program=program, key="gold", name="Gold", rank=3, criteria=GOLD),
    ]


@pytest.fixture
def hook(program):
    return WebhookEndpoint.objects.create(
        program=program,
        url="https://hooks.example/tiers",
        secret="s",
        events=["participant.tier_changed"],
    )


@pytest.fixture
def buy(ingest, process):  # noqa: F811  (the fixtures imported above)
    """buy(user, amount, type="purchase", occurred_at=None, **data) -> the processed event."""
    ids = count(1)

    def do(
        user: str,
        amount: object,
        *,
        type: str = "purchase",
        occurred_at: datetime | None = None,
        **data: object,
    ) -> Event:
        event = ingest(
            f"e-{next(ids)}",
            type,
            user,
            data={"amount": amount, **data},
            occurred_at=occurred_at or timezone.now(),
        )
        return process(event)

    return do


@pytest.fixture
def events_before_tiers(monkeypatch):
    """Events processed without the recompute processing does for each (as if processed
    before the program had tiers): what only a recompute of its own then moves."""
    from rules.services import processing

    monkeypatch.setattr(processing, "tier_recompute_for_event", lambda **kwargs: None)
