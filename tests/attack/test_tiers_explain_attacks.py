"""Attacks on issue 15's partner tiers and event explanations (helper G): hostile tier
definitions over the API (a 4xx problem and nothing changed), whether a partner's tier history
can be rewritten in the database, and explanations of events from before the change, failed
events, tampered results and another program's rules."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from config.platform.api_keys import api_key_create
from config.platform.models import AuditEntry, WebhookMessage
from rules.models import Event, Participant
from rules.rewards.services.programs import program_create
from rules.services.events import event_ingest
from rules.services.rules import rule_create, rule_publish
from rules.tiers.models import Tier, TierChange
from tests.conftest import ensure_groups
from tests.rules.conftest import SPEC_RULE, rule_def

pytestmark = pytest.mark.django_db

SPEC_CODES = {"validation_error", "payload_too_large", "permission_denied", "not_found"}


@pytest.fixture(autouse=True)
def _grants(db):
    ensure_groups()
    importlib.import_module("rules.tiers.migrations.0001_initial").grant(apps, None)


def _problem(response, statuses=(400,)) -> dict:
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] in SPEC_CODES, body
    return body


def _tier(key="gold", rank=1, **criteria):
    return {"key": key, "name": key.title(), "rank": rank, "criteria": criteria}


def _deep(levels: int) -> dict:
    node: dict = {"x": 1}
    for _ in range(levels):
        node = {"a": node}
    return node


HOSTILE_TIERS = [
    [_tier(min_referred_revenue=-1)],
    [_tier(min_referred_revenue=2**63)],
    [_tier(min_referred_revenue=1e308)],
    [_tier(min_referred_revenue=1.5)],
    [_tier(min_referred_revenue="100")],
    [_tier(min_referred_revenue=True)],
    [_tier(min_referred_revenue=None)],
    [_tier(min_conversions=-1)],
    [_tier(min_conversions=10**10)],
    [_tier(min_active_referrals=2**63)],
    [_tier(window_days=0)],
    [_tier(window_days=-1)],
    [_tier(window_days=3661)],
    [_tier(window_days=2**63)],
    [_tier(window_days=1e308)],
    [_tier(unknown=1)],
    [{**_tier(), "criteria": _deep(60)}],
    [{**_tier(), "criteria": []}],
    [{**_tier(), "criteria": "x"}],
    [_tier(rank=-1)],
    [_tier(rank=2**31)],
    [_tier(rank=2**63)],
    [_tier(rank=1.5)],
    [_tier(rank="1")],
    [_tier(rank=True)],
    [_tier(key="Gold")],
    [_tier(key="g\x00")],
    [_tier(key="")],
    [_tier(key="g" * 65)],
    [{**_tier(), "name": ""}],
    [{**_tier(), "name": "n\x00"}],
    [{**_tier(), "name": "n" * 5000}],
    [{**_tier(), "unknown": 1}],
    [{"key": "gold", "rank": 1}],
    [_tier("gold", 1), _tier("gold", 2)],
    [_tier("gold", 1), _tier("silver", 1)],
    [_tier("gold", 1), _tier("silver", 2, min_conversions=-5)],  # one good, one bad
    [_tier(f"t{i}", i + 1) for i in range(51)],
    [None],
    ["gold"],
]


def test_hostile_tier_definitions_are_400_and_change_nothing(program, api, url):
    Tier.objects.create(program=program, key="bronze", name="Bronze", rank=1, criteria={})
    before = list(Tier.objects.values_list("key", "name", "rank", "criteria"))
    audited = AuditEntry.objects.count()
    for tiers in HOSTILE_TIERS:
        _problem(api.put(url("tiers"), {"tiers": tiers}, format="json"))
    bodies: tuple[Any, ...] = ({"tiers": "x"}, {"tiers": None}, {}, {"tiers": [], "x": 1}, [], "x")
    for body in bodies:
        _problem(api.put(url("tiers"), body, format="json"))
    for raw in (
        b'{"tiers": [{"key":"g","name":"G","rank":1,"criteria":{"min_conversions": NaN}}]}',
        b'{"tiers": [{"key":"g","name":"G","rank":1,"criteria":{"min_conversions": -Infinity}}]}',
        b'{"tiers": [',
    ):
        _problem(api.generic("PUT", url("tiers"), raw, content_type="application/json"))
    big = b'{"tiers": [{"key":"g","name":"' + b"n" * 10_000_000 + b'","rank":1,"criteria":{}}]}'
    _problem(api.generic("PUT", url("tiers"), big, content_type="application/json"), (413,))
    assert list(Tier.objects.values_list("key", "name", "rank", "criteria")) == before
    assert AuditEntry.objects.count() == audited


def test_the_largest_money_minimum_is_stored_and_read_back_exactly(program, api, url):
    response = api.put(
        url("tiers"), {"tiers": [_tier(min_referred_revenue=2**63 - 1)]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert api.get(url("tiers")).json()["tiers"][0]["criteria"]["min_referred_revenue"] == (
        2**63 - 1
    )


def test_a_key_of_another_program_cannot_read_or_replace_its_tiers(program, api, url):
    other, _ = program_create(slug="other", name="Other", currency="INR")
    Tier.objects.create(program=other, key="gold", name="Gold", rank=1, criteria={})
    assert api.get(url("tiers", slug="other")).status_code == 404
    assert api.put(url("tiers", slug="other"), {"tiers": []}, format="json").status_code == 404
    assert Tier.objects.filter(program=other).count() == 1


def _tier_change(program) -> TierChange:
    participant = Participant.objects.create(program=program, external_id="alice")
    return TierChange.objects.create(
        program=program, participant=participant, from_tier="", to_tier="gold", reason="nightly"
    )


@pytest.mark.parametrize("statement", ["UPDATE {t} SET to_tier = 'bronze'", "DELETE FROM {t}"])
def test_tier_history_is_append_only_in_the_database(program, statement):
    _tier_change(program)
    table = TierChange._meta.db_table
    refused = False
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement.format(t=connection.ops.quote_name(table)))
    except DatabaseError:
        refused = True
    assert refused
    assert TierChange.objects.get().to_tier == "gold"


def test_the_audit_log_itself_is_append_only(program):
    """The yardstick for the test above: the audit entries of tier changes cannot be edited."""
    from config.platform.audit import audit_record

    audit_record(program=program, actor="t", action="x", object_type="t", object_id="1")
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET action = 'y'")


# --- event explanations -----------------------------------------------------------------------


@pytest.fixture
def event(program):
    created, _ = event_ingest(
        program=program,
        event_id="e1",
        type="purchase",
        user="bob",
        data={"amount": 100, "currency": "INR"},
        attributes={},
        occurred_at=None,
        actor="t",
    )
    return created


def _explain(api, url, event_id="e1"):
    return api.get(url(f"events/{event_id}/explain"))


def test_an_event_processed_before_outcomes_were_recorded_reads_as_sentences(
    program, api, url, event
):
    rule = rule_publish(
        rule=rule_create(program=program, definition=SPEC_RULE, actor="t"), actor="t"
    )
    legacy = [
        {
            "rule": rule.pk,
            "version": 1,
            "matched": False,
            "rewards": [],
            "credits": [],
            "skipped": [],
            "limited": [],
            "trace": [],
        }
    ]
    Event.objects.filter(pk=event.pk).update(status="processed", results=legacy)
    response = _explain(api, url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rules"][0]["rule"] == rule.pk and body["rules"][0]["outcome"] == "not_matched"
    assert any("before skipped and suppressed rules were recorded" in s for s in body["sentences"])


def test_a_failed_event_has_a_summary_and_no_rules(program, api, url, event):
    Event.objects.filter(pk=event.pk).update(status="failed", error="boom", results=[])
    body = _explain(api, url).json()
    assert body["status"] == "failed" and body["rules"] == [] and body["sentences"]


def test_another_programs_event_and_rules_stay_hidden(program, api, url, event):
    other, _ = program_create(slug="other", name="Other", currency="INR")
    secret = rule_create(program=other, definition=rule_def(name="Secret other rule"), actor="t")
    theirs, _ = event_ingest(
        program=other,
        event_id="e-other",
        type="purchase",
        user="bob",
        data={"amount": 100, "currency": "INR"},
        attributes={},
        occurred_at=None,
        actor="t",
    )
    assert _explain(api, url, "e-other").status_code == 404
    key = APIClient()
    key.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program)[1]}")
    assert key.get(url("events/e-other/explain", slug="other")).status_code == 404
    # this program's event whose stored results name the other program's rule (tampered)
    Event.objects.filter(pk=event.pk).update(
        status="processed",
        results=[{"rule": secret.pk, "version": 1, "matched": True, "outcome": "matched"}],
    )
    response = _explain(api, url)
    assert response.status_code == 200, response.content
    assert "Secret other rule" not in response.content.decode()
    assert theirs.pk != event.pk


@pytest.mark.parametrize(
    "results",
    [
        {"rule": 1},
        "results",
        [None, 1, "x", []],
        [{"rule": "x", "version": "y", "outcome": "exploded"}],
        [{"rule": 10**30, "version": 10**30, "matched": True}],
        [{"rule": 1, "outcome": "suppressed", "suppressed_by": {"x": 1}}],
        [{"rule": 1, "outcome": "skipped", "reason": "not_yet_active", "active_from": "garbage"}],
        [{"rule": 1, "matched": True, "rewards": [{"id": "x"}, None, 5], "credits": "x"}],
        [{"rule": 1, "matched": False, "trace": [None, {"path": 5, "field": None}]}],
    ],
    ids=lambda r: repr(r)[:40],
)
def test_tampered_results_explain_without_a_500(program, api, url, event, results):
    Event.objects.filter(pk=event.pk).update(status="processed", results=results)
    response = _explain(api, url)
    assert response.status_code == 200, response.content[:300]


@pytest.mark.parametrize("results", [5, True])
def test_results_that_are_a_number_explain_without_a_500(program, api, url, event, results):
    Event.objects.filter(pk=event.pk).update(status="processed", results=results)
    response = _explain(api, url)
    assert response.status_code == 200, response.content[:300]


def test_processing_records_webhooks_once_per_tier_change(program):
    """Guard: a recompute that changes nothing emits nothing (no duplicate webhooks)."""
    from config.platform.models import WebhookEndpoint
    from rules.tiers.services import participant_tier_recompute

    WebhookEndpoint.objects.create(
        program=program,
        url="https://hooks.example/tiers",
        secret="s",
        events=["participant.tier_changed"],
    )
    Tier.objects.create(program=program, key="bronze", name="Bronze", rank=1, criteria={})
    participant = Participant.objects.create(program=program, external_id="alice")
    first = participant_tier_recompute(participant_id=participant.pk, reason="recompute")
    second = participant_tier_recompute(participant_id=participant.pk, reason="recompute")
    assert first is not None and second is None
    assert TierChange.objects.count() == 1
    assert WebhookMessage.objects.filter(event_type="participant.tier_changed").count() == 1


def test_a_rank_the_admin_accepts_does_not_break_put_tiers(program, api, url):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    author = get_user_model().objects.create_user("rita", password="x", is_staff=True)
    author.groups.add(Group.objects.get(name="rule authors"))
    client = Client()
    client.force_login(author)
    client.post(
        "/admin/tiers/tier/add/",
        {
            "program": program.pk,
            "key": "gold",
            "name": "Gold",
            "rank": "2147483000",
            "window_days": "90",
            "min_referred_revenue": "",
            "min_conversions": "",
            "min_active_referrals": "",
        },
    )
    stored = Tier.objects.filter(program=program, key="gold").first()
    response = api.put(url("tiers"), {"tiers": [_tier("gold", 5)]}, format="json")
    assert response.status_code < 500, response.content[:300]
    assert stored is None or stored.rank <= 10**6


def test_a_sender_cannot_claim_a_tier_through_attributes(program, api, url):
    """referrer.tier is what rules.tiers computed: an attribute named "tier" on the partner's
    profile or on the event does not make a partner Gold."""
    from rules.models import Event
    from rules.rewards.models import Reward
    from rules.services.processing import event_process
    from rules.services.referrals import referral_create

    Tier.objects.create(program=program, key="gold", name="Gold", rank=1, criteria=_gold())
    gold_only = rule_def(
        name="Gold partners",
        trigger="purchase",
        conditions={
            "operator": "AND",
            "conditions": [{"field": "referrer.tier", "operator": "equals", "value": "gold"}],
        },
    )
    rule_publish(rule=rule_create(program=program, definition=gold_only, actor="t"), actor="t")
    referral_create(program=program, referrer="alice", referred="bob", actor="t")
    response = api.put(url("participants/alice"), {"attributes": {"tier": "gold"}}, format="json")
    assert response.status_code in (200, 400), response.content[:300]
    for n, attributes in enumerate([{}, {"tier": "gold"}]):
        event, _ = event_ingest(
            program=program,
            event_id=f"p{n}",
            type="purchase",
            user="bob",
            data={"amount": 100, "currency": "INR"},
            attributes=attributes,
            occurred_at=None,
            actor="t",
        )
        event_process(event_pk=event.pk)
        assert Event.objects.get(pk=event.pk).status == "processed"
    assert Participant.objects.get(external_id="alice").tier == ""
    assert not Reward.objects.filter(program=program).exists()
    # The control: a partner whom rules.tiers made Gold is paid by the same rule.
    Participant.objects.filter(external_id="alice").update(tier="gold")
    event, _ = event_ingest(
        program=program,
        event_id="p-gold",
        type="purchase",
        user="bob",
        data={"amount": 100, "currency": "INR"},
        attributes={},
        occurred_at=None,
        actor="t",
    )
    event_process(event_pk=event.pk)
    assert Reward.objects.filter(program=program, beneficiary="alice").count() == 1


def _gold() -> dict:
    return {"window_days": 30, "min_conversions": 50}


@pytest.mark.parametrize(
    "group, may",
    [("operators", False), ("approvers", False), ("key managers", False), ("rule authors", True)],
)
def test_only_who_may_change_tiers_recomputes_them_in_the_admin(program, group, may):
    """The tiers admin's "Recompute now" action writes tier changes, audit entries and
    webhooks: it takes tiers.change_tier, not just the view permission."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    tier = Tier.objects.create(program=program, key="bronze", name="Bronze", rank=1, criteria={})
    Participant.objects.create(program=program, external_id="alice")  # earns Bronze now
    user = get_user_model().objects.create_user("u", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    audited = AuditEntry.objects.count()
    response = client.post(
        "/admin/tiers/tier/", {"action": "recompute", "_selected_action": [tier.pk]}
    )
    assert response.status_code < 500
    assert TierChange.objects.count() == (1 if may else 0)
    assert (AuditEntry.objects.count() > audited) == may


@pytest.mark.parametrize(
    "occurred_at, outcome, reason",
    [
        ("2025-12-31T18:29:59Z", "skipped", "not_yet_active"),
        ("2025-12-31T18:30:00Z", "matched", None),  # active_from, written +05:30
        ("2026-01-31T23:59:59.999999Z", "matched", None),
        ("2026-02-01T00:00:00Z", "skipped", "expired"),  # until is exclusive
        ("2026-02-01T05:30:00+05:30", "skipped", "expired"),
    ],
)
def test_a_schedule_holds_to_the_microsecond_across_offsets(program, occurred_at, outcome, reason):
    from rules.rewards.models import Reward
    from rules.services.processing import event_process
    from rules.services.referrals import referral_create

    scheduled = rule_def(
        trigger="purchase",
        conditions={"operator": "AND", "conditions": []},
        active_from="2026-01-01T00:00:00+05:30",
        active_until="2026-02-01T00:00:00Z",
    )
    rule = rule_publish(
        rule=rule_create(program=program, definition=scheduled, actor="t"), actor="t"
    )
    referral_create(program=program, referrer="alice", referred="bob", actor="t")
    from config.platform.api.serializers import aware_time

    event, _ = event_ingest(
        program=program,
        event_id="e",
        type="purchase",
        user="bob",
        data={"amount": 100, "currency": "INR"},
        attributes={},
        occurred_at=aware_time(occurred_at),
        actor="t",
    )
    event_process(event_pk=event.pk)
    stored = Event.objects.get(pk=event.pk)
    entry = next(e for e in stored.results if e["rule"] == rule.pk)
    assert entry["outcome"] == outcome, entry
    if reason:
        assert entry["reason"] == reason
    assert Reward.objects.filter(program=program).exists() == (outcome == "matched")
