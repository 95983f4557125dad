"""The nightly recompute as the scheduler runs it (beat, or the inline scheduler without a
broker), the webhook type's registration, and a promotion made by event processing itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from config.celery import app
from config.inline_scheduler import jobs_from_schedule
from config.platform.webhooks.events import webhook_event_types
from rules.models import Participant
from rules.tiers.models import TierChange
from tests.rules.conftest import ALWAYS, reward_action, rule_def


def test_the_nightly_job_is_scheduled_and_resolves():
    entry = settings.CELERY_BEAT_SCHEDULE["rules.tiers_recompute"]
    assert entry["task"] == "rules.tiers_recompute"
    assert isinstance(entry["schedule"], crontab)
    autodiscover_modules("tasks")
    night = datetime(2026, 3, 3, 2, 15, tzinfo=UTC)
    [job] = jobs_from_schedule(
        {"rules.tiers_recompute": entry},
        resolve=app.tasks.__getitem__,
        clock=lambda: night - timedelta(hours=1),
    )
    assert getattr(job.run, "func", None) is app.tasks["rules.tiers_recompute"]


def test_the_webhook_type_is_registered():
    assert "participant.tier_changed" in webhook_event_types()


@pytest.mark.django_db
def test_the_task_promotes_and_demotes(program, tiers, refer, buy, events_before_tiers):
    refer("alice", "bob")
    buy("bob", 1)
    buy("bob", 1, occurred_at=timezone.now() - timedelta(days=1))
    task = app.tasks["rules.tiers_recompute"]
    assert task() == 2  # alice silver, bob bronze
    assert task() == 0
    assert Participant.objects.get(external_id="alice").tier == "silver"
    assert set(TierChange.objects.values_list("reason", flat=True)) == {"nightly"}


@pytest.mark.django_db(transaction=True)
def test_event_processing_promotes_on_every_event_of_a_referred_user(
    program, tiers, publish, refer, ingest
):
    publish(rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(100)]))
    refer("alice", "bob")
    ingest("p-1", "purchase", "bob", data={"amount": 1000})  # processed on commit
    ingest("p-2", "purchase", "bob", data={"amount": 1000})
    alice = Participant.objects.get(external_id="alice")
    assert alice.tier == "silver"
    assert list(
        TierChange.objects.filter(participant=alice).values_list("reason", "event_id", "to_tier")
    ) == [("conversion", "p-2", "silver"), ("conversion", "referral_created:bob", "bronze")]
    # (bob's referral is an event of his too: alice then had a partner, the floor tier.)
