"""Tier figures, the tier they earn, and every way a partner's tier changes: on an event,
nightly (promotion and demotion), when tiers change; each change audited and announced once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.platform.exceptions import ValidationFailed
from config.platform.models import AuditEntry, WebhookMessage
from rules.models import Event, Participant
from rules.tiers.criteria import criteria_errors
from rules.tiers.models import Tier, TierChange
from rules.tiers.selectors import referrer_stats, tier_progress
from rules.tiers.services import (
    participant_tier_recompute,
    tier_recompute_for_event,
    tiers_recompute_all,
    tiers_recompute_program,
    tiers_replace,
)
from tests.tiers.conftest import GOLD

pytestmark = pytest.mark.django_db


def person(program, external_id: str) -> Participant:
    return Participant.objects.get(program=program, external_id=external_id)


def tier_of(program, external_id: str) -> str:
    return person(program, external_id).tier


@pytest.mark.parametrize(
    "criteria",
    [
        [],
        "gold",
        None,
        {"min_conversions": True},
        {"min_conversions": 1.0},
        {"min_conversions": -1},
        {"min_conversions": "3"},
        {"min_conversions": 10**12},
        {"min_referred_revenue": 2**63},
        {"min_referred_revenue": float("nan")},
        {"window_days": 0},
        {"window_days": 100000},
        {"window_days": None},
        {"min_clicks": 3},
        {"\x00": 1},
        {"min_conversions": {"$gt": 1}},
    ],
)
def test_hostile_criteria_are_refused(criteria):
    assert criteria_errors(criteria)


def test_sound_criteria_pass():
    assert criteria_errors({}) == []
    assert criteria_errors(GOLD) == []
    assert criteria_errors({"window_days": 3660, "min_referred_revenue": 2**63 - 1}) == []


def test_figures_count_referred_people_only_in_the_window_and_currency(program, refer, buy, ingest):
    refer("alice", "bob")
    refer("alice", "carol")
    refer("zed", "dave")
    now = timezone.now()
    buy("bob", 300000)
    buy("bob", 200000, type="subscription_renewed")
    buy("bob", 100000, type="refund", original_event="e-1")
    buy("carol", 0, type="signup")  # active, not a conversion
    buy("carol", "lots")  # a conversion whose amount is not one
    buy("carol", 12.5)  # a fraction of a minor unit is not an amount
    buy("carol", True)
    buy("carol", -500)
    buy("carol", 99999, currency="USD")  # another currency: counted, not added
    buy("bob", 777777, occurred_at=now - timedelta(days=31))  # before the window
    buy("dave", 5000)  # zed's, not alice's
    buy("alice", 5000)  # alice's own purchase is not referred revenue
    ingest("unprocessed", "purchase", "bob", data={"amount": 1})  # never processed (rolled back)

    stats = referrer_stats(program=program, days=30, now=timezone.now())

    alice = person(program, "alice")
    assert stats[alice.pk] == {
        "referred_revenue": 400000,
        "conversions": 7,
        "active_referrals": 2,
    }
    assert stats[person(program, "zed").pk] == {
        "referred_revenue": 5000,
        "conversions": 1,
        "active_referrals": 1,
    }
    assert person(program, "bob").pk not in stats


def test_refunds_never_take_revenue_below_zero(program, refer, buy):
    refer("alice", "bob")
    buy("bob", 100)
    buy("bob", 10_000, type="refund")
    stats = referrer_stats(program=program, days=30, now=timezone.now())
    assert stats[person(program, "alice").pk]["referred_revenue"] == 0


def test_an_event_promotes_its_referrer_once_with_audit_and_one_webhook(
    program, tiers, hook, refer, buy
):
    refer("alice", "bob")
    refer("alice", "carol")
    for user in ("bob", "carol"):
        tier_recompute_for_event(event=buy(user, 200000))
    assert tier_of(program, "alice") == "silver"
    last = buy("bob", 100000)
    tier_recompute_for_event(event=last)
    tier_recompute_for_event(event=last)  # again: nothing changes

    assert tier_of(program, "alice") == "gold"
    changes = list(TierChange.objects.filter(participant__external_id="alice").order_by("id"))
    assert [(c.from_tier, c.to_tier) for c in changes] == [
        ("", "bronze"),
        ("bronze", "silver"),
        ("silver", "gold"),
    ]
    assert changes[-1].reason == "conversion" and changes[-1].event_id == last.event_id
    assert changes[-1].stats["30"] == {
        "referred_revenue": 500000,
        "conversions": 3,
        "active_referrals": 2,
    }
    messages = WebhookMessage.objects.filter(event_type="participant.tier_changed")
    assert messages.count() == 3
    gold = messages.get(payload__to__key="gold")
    assert gold.payload["participant"] == "alice"
    assert gold.payload["from"] == {"key": "silver", "name": "Silver", "rank": 2}
    assert gold.payload["to"] == {"key": "gold", "name": "Gold", "rank": 3}
    assert gold.payload["reason"] == "conversion" and gold.payload["event"] == last.event_id
    audit = AuditEntry.objects.filter(action="participant.tier_changed", object_id="alice")
    assert [a.after for a in audit.order_by("id")] == [
        {"tier": "bronze"},
        {"tier": "silver"},
        {"tier": "gold"},
    ]
    # Bob and carol referred nobody: the floor tier is theirs only once recomputed.
    assert tier_of(program, "bob") == ""


def test_an_event_recomputes_the_referrer_and_the_parent(program, tiers, refer, buy):
    refer("grandma", "alice")
    refer("alice", "bob")
    event = buy("bob", 1)
    tier_recompute_for_event(event=event)
    assert tier_of(program, "alice") == "bronze"
    assert tier_of(program, "grandma") == "bronze"
    assert tier_of(program, "bob") == ""  # the buyer's own figures did not change


def test_the_event_being_processed_counts_before_it_is_marked_processed(
    program, tiers, refer, buy, ingest
):
    refer("alice", "bob")
    buy("bob", 1)
    pending = ingest("in-flight", "purchase", "bob", data={"amount": 1})
    assert pending.status == Event.Status.RECEIVED
    tier_recompute_for_event(event=pending)
    assert tier_of(program, "alice") == "silver"


def test_nightly_demotes_when_the_window_moves_on(
    program, tiers, hook, refer, buy, events_before_tiers
):
    refer("alice", "bob")
    refer("alice", "carol")
    for user, amount in [("bob", 200000), ("carol", 200000), ("bob", 100000)]:
        buy(user, amount)
    first = tiers_recompute_all()
    assert tier_of(program, "alice") == "gold"
    # Everyone in the program stands on the floor tier, referrers or not.
    assert {p.tier for p in Participant.objects.exclude(external_id="alice")} == {"bronze"}
    assert len(first.changes) == 3 and first.checked == 3

    assert tiers_recompute_all().changes == []  # idempotent
    later = tiers_recompute_all(now=timezone.now() + timedelta(days=31))
    assert [(c.participant.external_id, c.from_tier, c.to_tier) for c in later.changes] == [
        ("alice", "gold", "bronze")
    ]
    assert later.changes[0].reason == "nightly"
    assert (
        WebhookMessage.objects.filter(
            event_type="participant.tier_changed", payload__participant="alice"
        ).count()
        == 2
    )


def test_a_deleted_tier_demotes_its_holders_at_night(program, tiers, refer, buy):
    refer("alice", "bob")
    buy("bob", 1)
    buy("bob", 1)
    tiers_recompute_all()
    assert tier_of(program, "alice") == "silver"
    Tier.objects.filter(program=program).delete()
    tiers_recompute_all()
    assert set(Participant.objects.values_list("tier", flat=True)) == {""}


def test_hostile_stored_criteria_are_never_awarded_nor_fail_events(program, tiers, refer, buy):
    refer("alice", "bob")
    # Past the checks (a shell, a data fix): a string, a boolean, a negative window.
    Tier.objects.filter(key="gold").update(criteria={"min_conversions": "0"})
    Tier.objects.filter(key="silver").update(criteria={"window_days": -5})
    Tier.objects.filter(key="bronze").update(criteria={"min_conversions": True})
    event = buy("bob", 1)
    tier_recompute_for_event(event=event)
    tiers_recompute_all()
    assert tier_of(program, "alice") == ""
    assert tier_progress(participant=person(program, "alice")) is None


def test_a_program_without_tiers_is_one_query(program, refer, buy, django_assert_num_queries):
    refer("alice", "bob")
    event = buy("bob", 1)
    with django_assert_num_queries(1):
        tier_recompute_for_event(event=event)
    assert tiers_recompute_all().programs == 0


def test_progress_names_the_next_tier_and_how_far(program, tiers, refer, buy):
    refer("alice", "bob")
    buy("bob", 250000)
    tiers_recompute_all()
    progress = tier_progress(participant=person(program, "alice"))
    assert progress is not None
    assert progress.current is not None and progress.current.key == "bronze"
    assert progress.next is not None and progress.next.key == "silver"
    assert progress.criteria == [
        {
            "criterion": "min_conversions",
            "stat": "conversions",
            "required": 2,
            "actual": 1,
            "met": False,
            "percent": 50,
        }
    ]


def test_replacing_tiers_keeps_holders_of_kept_keys_and_swaps_ranks(program, tiers, refer, buy):
    refer("alice", "bob")
    buy("bob", 1)
    buy("bob", 1)
    tiers_recompute_all()
    assert tier_of(program, "alice") == "silver"
    kept = tiers_replace(
        program=program,
        tiers=[
            {"key": "silver", "name": "Silver", "rank": 1, "criteria": {"min_conversions": 2}},
            {"key": "bronze", "name": "Bronze", "rank": 2, "criteria": {"min_conversions": 9}},
        ],
        actor="user:ops",
    )
    assert [(t.key, t.rank) for t in kept] == [("silver", 1), ("bronze", 2)]
    assert not Tier.objects.filter(key="gold").exists()
    assert tier_of(program, "alice") == "silver"
    assert tier_of(program, "bob") == ""  # no floor tier any more
    assert AuditEntry.objects.filter(action="tiers.replaced", actor="user:ops").exists()


@pytest.mark.parametrize(
    "tiers_in",
    [
        "gold",
        [{"key": "Gold", "name": "Gold", "rank": 1}],
        [{"key": "gold", "name": "", "rank": 1}],
        [{"key": "gold", "name": "G\x00", "rank": 1}],
        [{"key": "gold", "name": "Gold", "rank": True}],
        [{"key": "gold", "name": "Gold", "rank": 1, "criteria": {"min_conversions": -1}}],
        [{"key": "gold", "name": "Gold", "rank": 1, "extra": 1}],
        [{"key": "a", "name": "A", "rank": 1}, {"key": "b", "name": "B", "rank": 1}],
        [{"key": "a", "name": "A", "rank": 1}, {"key": "a", "name": "B", "rank": 2}],
        [{"key": f"t{i}", "name": "T", "rank": i} for i in range(51)],
    ],
)
def test_replacing_tiers_refuses_bad_input_whole(program, tiers, tiers_in):
    with pytest.raises(ValidationFailed):
        tiers_replace(program=program, tiers=tiers_in, actor="test")
    assert sorted(Tier.objects.values_list("key", flat=True)) == ["bronze", "gold", "silver"]


def test_an_operator_recompute_is_recorded_as_such(program, tiers, refer, buy, events_before_tiers):
    refer("alice", "bob")
    buy("bob", 1)
    result = tiers_recompute_program(program=program, reason="recompute", actor="user:ops")
    assert {c.reason for c in result.changes} == {"recompute"}
    assert (
        AuditEntry.objects.filter(action="participant.tier_changed", actor="user:ops").count() == 2
    )
    assert (
        participant_tier_recompute(participant_id=person(program, "alice").pk, reason="x") is None
    )


@pytest.mark.postgres
def test_postgresql_sums_match_the_portable_path_on_hostile_data(program, refer, buy):
    from collections import defaultdict

    from rules.tiers import selectors

    refer("alice", "bob")
    refer("alice", "carol")
    refer("zed", "dave")
    hostile: list[tuple[str, object, dict[str, object]]] = [
        ("bob", 300000, {}),
        ("bob", 12.0, {}),
        ("bob", 12.5, {}),
        ("bob", "100", {}),
        ("bob", True, {}),
        ("bob", None, {}),
        ("bob", -7, {}),
        ("bob", {"amount": 5}, {}),
        ("bob", 10**30, {}),
        ("bob", 1e20, {}),
        ("carol", 500, {"currency": "inr"}),
        ("carol", 500, {"currency": "USD"}),
        ("carol", 500, {"currency": 5}),
        ("carol", 500, {"currency": None}),
        ("carol", 500, {"currency": ["INR"]}),
        ("dave", 40, {}),
    ]
    for user, amount, extra in hostile:
        buy(user, amount, **extra)
    buy("bob", 200, type="refund", currency="INR")
    buy("dave", 100, type="refund")
    buy("carol", "x", type="refund")

    def run(path) -> dict:
        stats: dict = defaultdict(selectors.empty_stats)
        money = Event.objects.filter(
            program=program,
            status="processed",
            participant__referral_received__referrer_id__isnull=False,
            type__in=selectors.TIER_EVENT_TYPES,
        ).order_by()
        path(money, program.currency, stats)
        return dict(stats)

    fast = run(selectors._money_sums_postgresql)
    portable = run(selectors._money_sums_portable)
    assert fast == portable
    alice = person(program, "alice").pk
    assert fast[alice]["referred_revenue"] == 300000 + 12 + 10**30 + 10**20 + 500 + 500 - 200
    assert fast[alice]["conversions"] == 15
    assert fast[person(program, "zed").pk]["referred_revenue"] == 0


@pytest.mark.parametrize("statement", ["UPDATE {t} SET to_tier = 'gold'", "DELETE FROM {t}"])
def test_the_tier_history_is_append_only_in_the_database(program, tiers, refer, buy, statement):
    from django.db import DatabaseError, connection, transaction

    refer("alice", "bob")
    buy("bob", 1)
    tiers_recompute_all()
    table = connection.ops.quote_name(TierChange._meta.db_table)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(t=table))
    assert set(TierChange.objects.values_list("to_tier", flat=True)) == {"bronze"}


def test_a_rank_past_the_cap_is_refused_by_the_service_and_the_database(program, tiers):
    from django.db import IntegrityError, transaction

    from rules.tiers.services import tier_save

    gold = Tier.objects.get(key="gold")
    gold.rank = 2**31 - 1
    with pytest.raises(ValidationFailed):
        tier_save(tier=gold, actor="test")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tier.objects.filter(pk=gold.pk).update(rank=3_000_001)


def test_sqlite_gets_the_history_triggers_back_after_a_table_rebuild(program, tiers, refer, buy):
    from django.db import DatabaseError, connection, transaction

    from rules.tiers.triggers import sqlite_triggers_restore

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL alters tables in place and keeps its triggers")
    refer("alice", "bob")
    buy("bob", 1)
    tiers_recompute_all()
    with connection.cursor() as cursor:  # what a rebuild of the table does to them
        cursor.execute("DROP TRIGGER tiers_tierchange_no_delete")
    sqlite_triggers_restore(None, using=connection.alias)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM tiers_tierchange")
    assert TierChange.objects.count() == 2
