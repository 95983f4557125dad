"""Why did it (not) pay (issue 15, item 6): every active rule of an event's trigger is recorded
with its outcome, and GET P/events/{id}/explain (and the admin's event page) says it in
sentences, money in major units with the currency."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rules.engine import expand_trace
from rules.event_explain import event_explanation
from rules.models import Event
from rules.rewards.models import Reward
from rules.services import event_batch, processing
from rules.services.participants import participant_upsert
from tests.ledger.operator_fixtures import groups as groups  # staff() needs it
from tests.ledger.operator_fixtures import staff as staff  # the staff(...) client fixture
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = pytest.mark.django_db

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAID = {
    "operator": "AND",
    "conditions": [{"field": "referrer.is_paid_user", "operator": "equals", "value": True}],
}


@pytest.fixture
def send(ingest, process):
    """Store an event and process it now (these tests roll back: nothing runs on commit)."""

    def do(*args, **kwargs) -> Event:
        return process(ingest(*args, **kwargs))

    return do


@pytest.fixture
def every_outcome(program, publish, refer):
    """Five rules for subscription_started, one of each outcome for bob's event at AT."""
    participant_upsert(
        program=program, external_id="alice", attributes={"is_paid_user": False}, actor="t"
    )
    refer("alice", "bob")
    rules = {
        "premium": publish(rule_def(name="Premium referral", priority=50, conditions=PAID)),
        "next_year": publish(
            rule_def(
                name="New year",
                priority=40,
                conditions=ALWAYS,
                active_from="2027-01-01T00:00:00+05:30",
            )
        ),
        "last_year": publish(
            rule_def(
                name="Old promo",
                priority=35,
                conditions=ALWAYS,
                active_until="2026-01-01T00:00:00Z",
            )
        ),
        "welcome": publish(
            rule_def(
                name="Welcome",
                priority=30,
                conditions=ALWAYS,
                stop_processing=True,
                actions=[reward_action(50000)],
            )
        ),
        "extra": publish(rule_def(name="Extra", priority=10, conditions=ALWAYS)),
    }
    return rules


def test_every_outcome_is_stored(every_outcome, send):
    r = every_outcome
    event = send("p-1", "subscription_started", "bob", occurred_at=AT)

    assert event.status == "processed"
    by_rule = {entry["rule"]: entry for entry in event.results}
    assert [e["rule"] for e in event.results] == [
        r[k].pk for k in ("premium", "next_year", "last_year", "welcome", "extra")
    ]
    premium = by_rule[r["premium"].pk]
    assert (premium["outcome"], premium["matched"]) == ("not_matched", False)
    # Either stored form (the compact one expands against the version's definition).
    trace = expand_trace(r["premium"].active_version.definition, premium["trace"])
    assert trace[0]["field"] == "referrer.is_paid_user"
    assert by_rule[r["next_year"].pk] | {"rewards": []} == {
        "rule": r["next_year"].pk,
        "version": 1,
        "matched": False,
        "outcome": "skipped",
        "reason": "not_yet_active",
        "active_from": "2027-01-01T00:00:00+05:30",
        "rewards": [],
        "credits": [],
        "skipped": [],
        "limited": [],
    }
    expired = by_rule[r["last_year"].pk]
    assert (expired["outcome"], expired["reason"]) == ("skipped", "expired")
    assert expired["active_until"] == "2026-01-01T00:00:00Z" and "trace" not in expired
    welcome = by_rule[r["welcome"].pk]
    assert (welcome["outcome"], welcome["matched"]) == ("matched", True)
    assert welcome["rewards"] == [Reward.objects.get().pk]
    extra = by_rule[r["extra"].pk]
    assert (extra["outcome"], extra["matched"], extra["suppressed_by"]) == (
        "suppressed",
        False,
        r["welcome"].pk,
    )
    assert "trace" not in extra and extra["rewards"] == []


def test_every_outcome_is_explained_through_the_api(every_outcome, send, api, url):
    r = every_outcome
    send("p-1", "subscription_started", "bob", occurred_at=AT)
    reward = Reward.objects.get()

    response = api.get(url("events/p-1/explain"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["event"], body["status"]) == ("p-1", "processed")
    assert body["rules"] == [
        {
            "rule": r["premium"].pk,
            "name": "Premium referral",
            "version": 1,
            "outcome": "not_matched",
            "sentence": "Rule 'Premium referral' did not match: the referrer is not a paid user.",
        },
        {
            "rule": r["next_year"].pk,
            "name": "New year",
            "version": 1,
            "outcome": "skipped",
            "sentence": "Rule 'New year' was skipped: it is active from 1 January 2027 "
            "(the event occurred on 1 June 2026, 12:00 UTC).",
        },
        {
            "rule": r["last_year"].pk,
            "name": "Old promo",
            "version": 1,
            "outcome": "skipped",
            "sentence": "Rule 'Old promo' was skipped: it was active until 1 January 2026 "
            "(the event occurred on 1 June 2026, 12:00 UTC).",
        },
        {
            "rule": r["welcome"].pk,
            "name": "Welcome",
            "version": 1,
            "outcome": "matched",
            "sentence": f"Rule 'Welcome' matched and paid ₹500.00 to the referrer "
            f"(reward {reward.pk}, pending).",
        },
        {
            "rule": r["extra"].pk,
            "name": "Extra",
            "version": 1,
            "outcome": "suppressed",
            "sentence": "Rule 'Extra' was not evaluated: rule 'Welcome' matched first and "
            "stops other rules.",
        },
    ]
    assert body["sentences"][0] == (
        "Event 'p-1' (subscription_started) was processed against 5 active rules: "
        "1 matched, 1 did not match, 1 not evaluated and 2 skipped."
    )
    assert body["sentences"][1:] == [rule["sentence"] for rule in body["rules"]]


def test_a_non_match_names_the_deciding_conditions_with_money_in_major_units(
    program, publish, refer, send
):
    refer("alice", "bob")
    refer("alice", "carol")
    publish(
        rule_def(
            name="Big orders",
            trigger="purchase",
            conditions={
                "operator": "AND",
                "conditions": [
                    {"field": "event.amount", "operator": "greater_than", "value": 500000},
                    {
                        "operator": "OR",
                        "conditions": [
                            {"field": "referred.country", "operator": "equals", "value": "US"},
                            {"field": "referred.plan", "operator": "equals", "value": "gold"},
                        ],
                    },
                ],
            },
        )
    )
    publish(
        rule_def(
            name="Not from the US",
            trigger="purchase",
            priority=-1,
            conditions={
                "operator": "NOT",
                "conditions": [{"field": "referred.country", "operator": "equals", "value": "US"}],
            },
        )
    )
    small = send("small", "purchase", "bob", data={"amount": 120000}, attributes={"country": "US"})
    big = send("big", "purchase", "carol", data={"amount": 900000})

    small_rules = event_explanation(Event.objects.get(pk=small.pk))["rules"]
    assert [x["sentence"] for x in small_rules] == [
        # AND: the one that failed first; the OR after it was never evaluated.
        "Rule 'Big orders' did not match: the order amount is not over ₹5,000.00.",
        # NOT: the condition that held.
        "Rule 'Not from the US' did not match: the referred user is from the US.",
    ]
    big_rules = event_explanation(Event.objects.get(pk=big.pk))["rules"]
    # OR: every alternative failed; a missing attribute says so.
    assert big_rules[0]["sentence"].startswith("Rule 'Big orders' did not match: ")
    assert "(it has no value)" in big_rules[0]["sentence"]
    assert big_rules[0]["sentence"].count("(it has no value)") == 2
    assert big_rules[1]["outcome"] == "matched"


def test_batch_processing_stores_what_single_processing_does(every_outcome, ingest, process, refer):
    refer("alice", "carol")
    one = ingest("one", "subscription_started", "bob", occurred_at=AT)
    two = ingest("two", "subscription_started", "carol", occurred_at=AT)
    assert Event.objects.get(pk=one.pk).status == "received"

    single = process(one)
    assert event_batch.events_process_batch(event_pks=[two.pk]).processed == 1
    batched = Event.objects.get(pk=two.pk)

    def shape(results):
        return [{**entry, "rewards": len(entry["rewards"])} for entry in results]

    assert batched.status == single.status == "processed"
    assert shape(batched.results) == shape(single.results)
    assert [x["outcome"] for x in single.results] == [
        "not_matched",
        "skipped",
        "skipped",
        "matched",
        "suppressed",
    ]
    assert Reward.objects.count() == 2


def test_old_results_without_outcomes_are_explained(program, publish, refer, send):
    refer("alice", "bob")
    stop = publish(rule_def(name="Stopper", priority=20, conditions=ALWAYS, stop_processing=True))
    missed = publish(rule_def(name="Paid only", priority=30, conditions=PAID))
    publish(rule_def(name="Never reached", priority=10, conditions=ALWAYS))
    event = send("old", "subscription_started", "bob")
    stored = Event.objects.get(pk=event.pk).results
    # As stored before this change: no outcome, nothing after the stopping rule.
    old = [
        {k: v for k, v in entry.items() if k != "outcome"}
        for entry in stored
        if entry["outcome"] != "suppressed"
    ]
    Event.objects.filter(pk=event.pk).update(results=old)

    body = event_explanation(Event.objects.get(pk=event.pk))

    assert [(x["rule"], x["outcome"]) for x in body["rules"]] == [
        (missed.pk, "not_matched"),
        (stop.pk, "matched"),
    ]
    assert body["rules"][0]["sentence"] == (
        "Rule 'Paid only' did not match: the referrer is not a paid user (it has no value)."
    )
    assert body["rules"][1]["sentence"].startswith("Rule 'Stopper' matched and paid ₹500.00")
    assert "processed before skipped and suppressed rules were recorded" in body["sentences"][-1]


def test_events_not_processed_failed_or_without_rules(program, ingest, refer):
    refer("alice", "bob")
    waiting = ingest("waiting", "purchase", "bob")
    failed = ingest("failed", "purchase", "bob")
    Event.objects.filter(pk=failed.pk).update(
        status="failed", attempts=5, error="ZeroDivisionError: x"
    )
    retrying = ingest("retrying", "purchase", "bob")
    Event.objects.filter(pk=retrying.pk).update(attempts=2, error="OperationalError: gone")
    none = ingest("none", "purchase", "bob")
    processing.event_process(event_pk=none.pk)

    def sentences(event):
        body = event_explanation(Event.objects.select_related("program").get(pk=event.pk))
        assert body["rules"] == []
        return body["sentences"]

    assert sentences(waiting) == [
        "Event 'waiting' (purchase) has not been processed yet: it is waiting for a worker."
    ]
    assert sentences(failed) == [
        "Event 'failed' (purchase) failed after 5 attempts (ZeroDivisionError: x), "
        "so no rule paid anything for it."
    ]
    assert sentences(retrying)[0].startswith(
        "Event 'retrying' (purchase) has not been processed yet: attempt 2 failed "
        "(OperationalError: gone)"
    )
    assert sentences(none) == [
        "Event 'none' (purchase) was processed when no rule was active for purchase events, "
        "so nothing was paid."
    ]


@pytest.mark.parametrize(
    "results",
    [
        [1, "x", None],
        [{"rule": "a", "outcome": "matched", "rewards": ["x", 10**20], "trace": "?"}],
        [{"rule": 999999, "version": 7, "outcome": "not_matched", "trace": [{"path": 1}]}],
        [{"outcome": "skipped", "reason": "not_yet_active", "active_from": "not a time"}],
        [{"outcome": "suppressed", "suppressed_by": [1]}],
        [{"rule": 2**70, "version": -1, "rewards": 5, "credits": "ab", "limited": {}}],
        [{"rule": 1, "outcome": "not_matched", "trace": [{"path": "$.conditions", "result": 1}]}],
        [{"rule": 1, "matched": True, "limited": [{"amount": "x"}], "skipped": ["y", {}]}],
        {"not": "a list"},
    ],
)
def test_malformed_stored_results_still_get_sentences(program, ingest, refer, api, url, results):
    refer("alice", "bob")
    event = ingest("odd", "purchase", "bob")
    Event.objects.filter(pk=event.pk).update(
        status="processed", results=results, refund={"reversed": "x"}
    )
    response = api.get(url("events/odd/explain"))
    assert response.status_code == 200, response.content
    assert all(isinstance(s, str) and s for s in response.json()["sentences"])


def test_unknown_event_is_404(api, url, program):
    response = api.get(url("events/nope/explain"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_reading_an_explanation_needs_the_view_event_permission(
    client, url, program, ingest, refer, django_user_model
):
    from django.contrib.auth.models import Group

    refer("alice", "bob")
    ingest("p-1", "purchase", "bob")
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url("events/p-1/explain")).status_code == 403
    assert client.get(url("events/p-1")).status_code == 403  # the same rule as the event
    staff.groups.add(Group.objects.get(name="operators"))
    assert client.get(url("events/p-1/explain")).status_code == 200
    assert client.get(url("events/p-1")).status_code == 200


def test_every_event_of_a_referred_user_recomputes_tiers(
    program, publish, refer, send, monkeypatch
):
    """Tiers count referred revenue, conversions and active referrals from the referred
    users' events, whether or not a rule paid for them: each such event recomputes the
    referrers' tiers; an event of a user nobody referred moves none."""
    calls: list[str] = []
    monkeypatch.setattr(
        processing, "tier_recompute_for_event", lambda *, event, **_: calls.append(event.event_id)
    )
    refer("alice", "bob")
    publish(rule_def(name="Paid only", conditions=PAID))
    send("nothing", "subscription_started", "bob")
    assert calls == ["nothing"] and not Reward.objects.exists()
    publish(
        rule_def(
            name="Everyone", priority=0, conditions=ALWAYS, actions=[reward_action(100, "referred")]
        )
    )
    send("paid", "subscription_started", "bob")
    assert calls == ["nothing", "paid"]
    # Paid, but nobody referred dave: no referrer's tier can move.
    send("lonely", "subscription_started", "dave")
    assert calls == ["nothing", "paid"] and Reward.objects.filter(beneficiary="dave").count() == 1


def test_the_admin_event_page_shows_the_sentences(every_outcome, send, staff):
    from django.urls import reverse

    event = send("p-1", "subscription_started", "bob", occurred_at=AT)
    reward = Reward.objects.get()
    operator = staff("olga", "operators")

    html = operator.get(reverse("admin:rules_event_change", args=[event.pk])).content.decode()

    assert "Why it paid, or did not" in html
    assert (
        "Rule &#x27;Premium referral&#x27; did not match: the referrer is not a paid user." in html
    )
    assert f"paid ₹500.00 to the referrer (reward {reward.pk}, pending)" in html
    assert (
        "Rule &#x27;Extra&#x27; was not evaluated: rule &#x27;Welcome&#x27; matched first" in html
    )
    assert 'data-outcome="suppressed"' in html


def test_an_explanation_reads_a_few_rows_however_many_rules(every_outcome, send, publish):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(event_id: str) -> int:
        event = Event.objects.select_related("program").get(
            pk=send(event_id, "subscription_started", "bob", occurred_at=AT).pk
        )
        with CaptureQueriesContext(connection) as captured:
            event_explanation(event)
        return len(captured)

    five = queries("p-1")
    for i in range(5):
        publish(rule_def(name=f"More {i}", priority=45, conditions=PAID))
    assert queries("p-2") == five <= 6
