"""Tiers in batched processing: an event of a batch is counted by the tier recomputes of the
events after it in the same batch (their statuses are written at the batch's end), so a batch
promotes a partner exactly as the same events processed one by one do; an event type no rule
triggers on still moves tiers."""

from __future__ import annotations

import pytest
from django.utils import timezone

from rules.models import Participant
from rules.services import event_batch, handoff
from rules.services.events import event_ingest
from rules.services.processing import event_process
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _stored_not_processed(settings, monkeypatch):
    settings.CELERY_BROKER_URL = ""
    monkeypatch.setattr(handoff, "_enqueue", lambda pk, **kwargs: None)
    monkeypatch.setattr(handoff, "_enqueue_many", lambda pks: None)


def purchases(program, users, *, type="purchase"):
    return [
        event_ingest(
            program=program,
            event_id=f"{type}-{user}",
            type=type,
            user=user,
            occurred_at=timezone.now(),
            data={"amount": 300_000},
            actor="t",
        )[0].pk
        for user in users
    ]


def tier_of(program, external_id):
    return Participant.objects.get(program=program, external_id=external_id).tier


@pytest.mark.parametrize("batched", [False, True], ids=["one by one", "one batch"])
def test_two_conversions_in_one_batch_promote_as_one_by_one(
    program, tiers, publish, refer, batched
):
    publish(rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(100)]))
    refer("alice", "bob")
    refer("alice", "carol")
    pks = purchases(program, ["bob", "carol"])
    if batched:
        assert event_batch.events_process_batch(event_pks=pks).processed == 2
    else:
        for pk in pks:
            assert event_process(event_pk=pk).status == "processed"
    assert tier_of(program, "alice") == "silver"  # two conversions (tests/tiers/conftest.py)


@pytest.mark.parametrize("batched", [False, True], ids=["one by one", "one batch"])
def test_events_no_rule_triggers_on_still_move_tiers(program, tiers, refer, batched):
    refer("alice", "bob")
    refer("alice", "carol")
    pks = purchases(program, ["bob", "carol"], type="subscription_renewed")
    if batched:
        assert event_batch.events_process_batch(event_pks=pks).processed == 2
    else:
        for pk in pks:
            assert event_process(event_pk=pk).status == "processed"
    assert tier_of(program, "alice") == "silver"
