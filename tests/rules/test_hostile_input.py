"""Hostile input to the rules API and the event pipeline (issue 11, item 7): impossible times,
participant ids the ledger cannot pay, and commissions on amounts or currencies that must never
be paid. Each is refused (400, nothing written) or skipped with a note; never a 500 or a retry."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from config.platform.currencies import MAX_AMOUNT
from rules.engine.plan import plan_actions
from rules.models import Event, Participant, Rule
from rules.rewards.models import Reward
from tests.rules.conftest import ALWAYS, SPEC_RULE, rule_def

BAD_TIMES = [
    "2026-02-30T10:00:00Z",  # impossible date
    "2026-01-01T00:00:00-19:47",  # an offset PostgreSQL refuses
    "2026-01-01T00:00:00+16:00",
    "9999-12-31T23:59:59-15:00",  # year 10000 once in UTC
    "0001-01-01T00:00:00+05:00",  # year 0 once in UTC
]
UNPAYABLE_IDS = ["a:b", "a b", "üref", " alice", "alice\n", "x" * 201, ""]


def counts() -> tuple[int, int, int, int]:
    return (
        Event.objects.count(),
        Participant.objects.count(),
        Rule.objects.count(),
        Reward.objects.count(),
    )


def assert_400(r, code: str = "validation_error") -> dict:
    assert r.status_code == 400, (r.status_code, r.content[:300])
    assert r["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code, body
    return body


@pytest.mark.django_db
@pytest.mark.parametrize("when", BAD_TIMES)
def test_events_rule_tests_and_simulate_refuse_bad_times(api, url, publish, when):
    rule = publish(SPEC_RULE)
    before = counts()
    event = {"id": "e1", "type": "signup", "user": "bob", "occurred_at": when}
    body = assert_400(api.post(url("events"), event, format="json"))
    assert body["errors"][0]["field"] == "occurred_at"
    body = assert_400(api.post(url(f"rules/{rule.pk}/test"), {"event": event}, format="json"))
    assert body["errors"][0]["field"] == "event.occurred_at"
    for window in (
        {"from": when, "to": "2026-03-01T00:00:00Z"},
        {"from": "2026-01-01T00:00:00Z", "to": when},
    ):
        body = assert_400(
            api.post(url("rules/simulate"), {"definition": SPEC_RULE, **window}, format="json")
        )
        assert body["errors"][0]["field"] in window
    assert counts() == before


@pytest.mark.django_db
def test_an_offset_up_to_15_59_is_accepted_and_stored_in_utc(api, url):
    event = {
        "id": "e1",
        "type": "signup",
        "user": "bob",
        "occurred_at": "2026-01-01T12:00:00-15:59",
    }
    r = api.post(url("events"), event, format="json")
    assert r.status_code in (200, 202), r.content
    assert Event.objects.get(event_id="e1").occurred_at.isoformat() == "2026-01-02T03:59:00+00:00"


@pytest.mark.django_db
@pytest.mark.parametrize("bad", UNPAYABLE_IDS)
def test_ids_the_ledger_cannot_pay_are_refused_at_creation(api, url, bad):
    before = counts()
    body = {"id": "e1", "type": "signup", "user": bad}
    assert assert_400(api.post(url("events"), body, format="json"))["errors"][0]["field"] == "user"
    for referral in ({"referrer": bad, "referred": "bob"}, {"referrer": "alice", "referred": bad}):
        assert_400(api.post(url("referrals"), referral, format="json"))
    if bad.strip() and "\n" not in bad and "/" not in bad:
        from urllib.parse import quote

        r = api.put(url(f"participants/{quote(bad)}"), {"attributes": {}}, format="json")
        assert_400(r)
    assert counts() == before


@pytest.mark.django_db
def test_the_participant_service_and_the_database_refuse_unpayable_ids(program):
    from config.platform.exceptions import ValidationFailed
    from rules.services.participants import participant_get_or_create

    for bad in ("a:b", "a b", "üref"):
        with pytest.raises(ValidationFailed):
            participant_get_or_create(program=program, external_id=bad, actor="test")
        with pytest.raises(IntegrityError), transaction.atomic():
            Participant.objects.create(program=program, external_id=bad, referral_code="ABCDEFGH")
    assert participant_get_or_create(program=program, external_id="a.b@c-d_1", actor="t")[1]


@pytest.mark.django_db
def test_a_blank_rule_name_is_rule_invalid(api, url):
    for name in ("   ", "\t\n", "\u00a0"):
        body = assert_400(
            api.post(url("rules"), rule_def(name=name), format="json"), code="rule_invalid"
        )
        assert {e["path"] for e in body["errors"]} == {"$.name"}
    assert not Rule.objects.exists()


def commission_rule(**params):
    return rule_def(
        trigger="purchase",
        conditions=ALWAYS,
        actions=[
            {
                "type": "percent_commission",
                "params": {"of": "event.amount", "reward_type": "cash", "rate_bps": 1000, **params},
            }
        ],
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"amount": 1e30}, "above the money limit"),
        ({"amount": 1e17}, "above the money limit"),
        ({"amount": 10**17}, "above the money limit"),
        ({"amount": float("nan")}, "not a number"),
        ({"amount": float("inf")}, "not a number"),
        ({"amount": "1000"}, "not a number"),
        ({"amount": True}, "not a number"),
        ({"amount": 100000, "currency": "USD"}, "is not the program's INR"),
        ({"amount": 100000, "currency": 5}, "is not the program's INR"),
    ],
)
def test_a_commission_that_cannot_be_paid_is_planned_as_skipped(data, reason):
    facts = {"event": {"type": "purchase", **data}, "referrer": {"id": "alice"}}
    [planned] = plan_actions(commission_rule(cap=MAX_AMOUNT), facts, currency="INR")
    assert planned["amount"] is None and reason in planned["skipped"], planned


def test_a_commission_in_the_programs_currency_is_paid():
    facts = {"event": {"amount": 123456, "currency": "inr"}, "referrer": {"id": "alice"}}
    [planned] = plan_actions(commission_rule(), facts, currency="INR")
    assert (planned["amount"], planned["skipped"]) == (12345, None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "data",
    [{"amount": 1e30}, {"amount": 1e17}, {"amount": "99"}, {"amount": 5000, "currency": "USD"}],
)
def test_the_pipeline_skips_such_a_commission_with_a_note_and_no_retry(
    program, publish, refer, ingest, data
):
    publish(commission_rule())
    refer("alice", "bob")
    ingest("buy-1", "purchase", "bob", data=data)
    event = Event.objects.get(event_id="buy-1")
    assert (event.status, event.attempts, event.error) == ("processed", 1, "")
    [result] = event.results
    assert result["matched"] is True and result["rewards"] == []
    assert result["skipped"] and result["skipped"][0]["type"] == "percent_commission"
    assert not Reward.objects.exists()


@pytest.mark.django_db
def test_actions_never_book_an_amount_above_the_money_limit(program, publish, refer, ingest):
    from rules.actions.run import actions_run

    rule = publish(commission_rule())
    refer("alice", "bob")
    event = ingest("buy-1", "purchase", "bob", data={"amount": 10})
    planned = [
        {
            "index": 0,
            "type": "percent_commission",
            "beneficiary": "referrer",
            "beneficiary_id": "alice",
            "amount": MAX_AMOUNT + 1,
            "currency": "INR",
            "reward_type": "cash",
            "skipped": None,
        }
    ]
    outcome = actions_run(
        program=program,
        event=event,
        rule=rule,
        rule_version=rule.active_version,
        planned=planned,
    )
    assert outcome.rewards == [] and "money limit" in outcome.skipped[0]["reason"]
    assert not Reward.objects.filter(amount__gt=MAX_AMOUNT).exists()
