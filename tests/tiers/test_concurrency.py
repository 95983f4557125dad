"""Racing recomputes of one partner on PostgreSQL (an event's and the nightly job's): one
change, one audit entry, one webhook."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from config.platform.models import AuditEntry, WebhookMessage
from rules.models import Participant
from rules.tiers.models import TierChange
from rules.tiers.services import participant_tier_recompute, tiers_recompute_program

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def no_delivery(monkeypatch):
    """Keep the outbox rows: the test counts them; nothing is sent."""
    from config.platform.webhooks import services

    monkeypatch.setattr(services, "_dispatch", lambda ids: None)


def run_together(targets) -> list:
    barrier = threading.Barrier(len(targets))
    results: list = []
    errors: list = []

    def run(fn):
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_racing_recomputes_change_a_tier_once(
    program, tiers, hook, refer, buy, no_delivery, events_before_tiers
):
    refer("alice", "bob")
    refer("alice", "carol")
    for user, amount in [("bob", 200000), ("carol", 200000), ("bob", 100000)]:
        buy(user, amount)
    alice = Participant.objects.get(external_id="alice")
    # The events were processed without their recompute (events_before_tiers): no tier yet.
    assert alice.tier == "" and not WebhookMessage.objects.exists()
    changed_before = TierChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
    audited_before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def one() -> object:
        return participant_tier_recompute(participant_id=alice.pk, reason="conversion")

    def program_wide() -> object:
        return tiers_recompute_program(program=program)

    run_together([one, one, one, program_wide, program_wide])

    alice.refresh_from_db()
    assert alice.tier == "gold"
    changes = TierChange.objects.filter(participant=alice, id__gt=changed_before)
    assert [(c.from_tier, c.to_tier) for c in changes] == [("", "gold")]
    assert (
        WebhookMessage.objects.filter(
            event_type="participant.tier_changed", payload__participant="alice"
        ).count()
        == 1
    )
    assert (
        AuditEntry.objects.filter(
            action="participant.tier_changed", object_id="alice", id__gt=audited_before
        ).count()
        == 1
    )
