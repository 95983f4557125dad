"""Testing without saving and saved scenarios (issue 15 item 3): POST rules/test with an unsaved
definition, scenario CRUD, scenarios run on every save and block publishing while one fails.
Scenario runs go through the test machinery: nothing reaches events, rewards or the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from config.platform.models import AuditEntry
from ledger.models import Transaction
from rules.models import Event, Participant, Rule, RuleScenario, RuleVersion
from rules.rewards.models import Reward
from tests.rules.conftest import SPEC_RULE, rule_def

pytestmark = pytest.mark.django_db

PREMIUM = {
    "type": "subscription_started",
    "user": "bob",
    "attributes": {"subscription_plan": "premium"},
}
BASIC = {**PREMIUM, "attributes": {"subscription_plan": "basic"}}


def money_rows() -> tuple[int, ...]:
    return (
        Event.objects.count(),
        Reward.objects.count(),
        Transaction.objects.count(),
        Participant.objects.count(),
        Rule.objects.count(),
        RuleVersion.objects.count(),
    )


@pytest.fixture
def paid_referrer(api, url, refer):
    api.put(url("participants/alice"), {"attributes": {"is_paid_user": True}}, format="json")
    refer("alice", "bob")


def create(api, url, definition=SPEC_RULE) -> int:
    response = api.post(url("rules"), definition, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def add_scenario(api, url, rule_id: int, name: str, event: dict, expect: dict) -> dict[str, Any]:
    response = api.post(
        url(f"rules/{rule_id}/scenarios"),
        {"name": name, "event": event, "expect": expect},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


# --- testing an unsaved definition ----------------------------------------------------------


def test_unsaved_definition_is_tested_like_a_saved_one_and_writes_nothing(api, url, paid_referrer):
    rule_id = create(api, url)
    before = money_rows()
    unsaved = api.post(
        url("rules/test"), {"definition": SPEC_RULE, "event": PREMIUM}, format="json"
    )
    assert unsaved.status_code == 200, unsaved.content
    saved = api.post(url(f"rules/{rule_id}/test"), {"event": PREMIUM}, format="json").json()
    body = unsaved.json()
    assert (body["rule"], body["version"]) == (None, None)
    for key in ("matched", "conditions_matched", "trace", "actions", "warnings"):
        assert body[key] == saved[key], key
    assert body["matched"] is True and body["actions"][0]["amount"] == 50000
    assert money_rows() == before


def test_unsaved_test_refuses_a_bad_definition_with_rule_invalid(api, url):
    before = money_rows()
    bad = rule_def(trigger="no_such_trigger")
    response = api.post(url("rules/test"), {"definition": bad, "event": PREMIUM}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "rule_invalid"
    response = api.post(url("rules/test"), {"definition": "x", "event": PREMIUM}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "rule_invalid"
    response = api.post(
        url("rules/test"), {"definition": SPEC_RULE, "event": {"type": 5}}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    response = api.post(url("rules/test"), {"definition": SPEC_RULE}, format="json")
    assert response.status_code == 400
    assert money_rows() == before


# --- scenarios ------------------------------------------------------------------------------


def test_scenario_crud_and_last_result(api, url, paid_referrer):
    rule_id = create(api, url)
    expect = {"matched": True, "rewards": [{"beneficiary": "referrer", "amount": 50000}]}
    created = add_scenario(api, url, rule_id, "premium pays", PREMIUM, expect)
    assert created["event"]["type"] == "subscription_started"
    assert created["expect"] == expect
    assert created["last_result"]["passed"] is True and created["last_result"]["version"] == 1
    sid = created["id"]
    listed = api.get(url(f"rules/{rule_id}/scenarios")).json()["results"]
    assert [s["id"] for s in listed] == [sid]
    assert api.get(url(f"rules/{rule_id}/scenarios/{sid}")).json()["name"] == "premium pays"
    changed = api.put(
        url(f"rules/{rule_id}/scenarios/{sid}"),
        {
            "name": "premium pays 400",
            "event": PREMIUM,
            "expect": {"matched": True, "rewards": [{"beneficiary": "referrer", "amount": 40000}]},
        },
        format="json",
    )
    assert changed.status_code == 200, changed.content
    last = changed.json()["last_result"]
    assert last["passed"] is False and "₹500.00" in last["message"]
    assert api.delete(url(f"rules/{rule_id}/scenarios/{sid}")).status_code == 204
    assert api.get(url(f"rules/{rule_id}/scenarios/{sid}")).status_code == 404
    assert not RuleScenario.objects.exists()
    actions = set(
        AuditEntry.objects.filter(object_id=str(rule_id)).values_list("action", flat=True)
    )
    assert {"rule.scenario_created", "rule.scenario_updated", "rule.scenario_deleted"} <= actions


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "", "event": PREMIUM, "expect": {"matched": True}}, "name"),
        ({"name": "x" * 201, "event": PREMIUM, "expect": {"matched": True}}, "name"),
        (
            {"name": "a", "event": {**PREMIUM, "user": "bad id!"}, "expect": {"matched": True}},
            "event.user",
        ),
        (
            {"name": "a", "event": {**PREMIUM, "extra": 1}, "expect": {"matched": True}},
            "event.extra",
        ),
        (
            {
                "name": "a",
                "event": {**PREMIUM, "occurred_at": "2026-01-01T00:00:00"},
                "expect": {"matched": True},
            },
            "event.occurred_at",
        ),
        ({"name": "a", "event": PREMIUM, "expect": {"matched": "yes"}}, "expect.matched"),
        ({"name": "a", "event": PREMIUM, "expect": {}}, "expect.matched"),
        (
            {
                "name": "a",
                "event": PREMIUM,
                "expect": {"matched": True, "rewards": [{"beneficiary": "me", "amount": 1}]},
            },
            "expect.rewards.0.beneficiary",
        ),
        (
            {
                "name": "a",
                "event": PREMIUM,
                "expect": {
                    "matched": True,
                    "rewards": [{"beneficiary": "referrer", "amount": 1.5}],
                },
            },
            "expect.rewards.0.amount",
        ),
        (
            {
                "name": "a",
                "event": PREMIUM,
                "expect": {"matched": True, "rewards": [{"beneficiary": "referrer", "amount": 0}]},
            },
            "expect.rewards.0.amount",
        ),
        (
            {
                "name": "a",
                "event": PREMIUM,
                "expect": {
                    "matched": True,
                    "rewards": [{"beneficiary": "referrer", "amount": 1, "currency": "inr"}],
                },
            },
            "expect.rewards.0.currency",
        ),
        (
            {
                "name": "a",
                "event": PREMIUM,
                "expect": {"matched": False, "rewards": [{"beneficiary": "referrer", "amount": 1}]},
            },
            "expect.rewards",
        ),
        (
            {"name": "a", "event": PREMIUM, "expect": {"matched": True, "rewards": "all"}},
            "expect.rewards",
        ),
        ({"name": "a", "event": PREMIUM}, "expect"),
        ([1, 2], "body"),
    ],
)
def test_a_bad_scenario_is_400_and_writes_nothing(api, url, body, field):
    rule_id = create(api, url)
    response = api.post(url(f"rules/{rule_id}/scenarios"), body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert not RuleScenario.objects.exists()


def test_scenario_names_are_unique_per_rule(api, url):
    first, second = create(api, url), create(api, url)
    add_scenario(api, url, first, "same", PREMIUM, {"matched": True})
    add_scenario(api, url, second, "same", PREMIUM, {"matched": True})
    again = api.post(
        url(f"rules/{first}/scenarios"),
        {"name": "same", "event": BASIC, "expect": {"matched": False}},
        format="json",
    )
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "name"
    # Another rule's scenario is not found under this one.
    other = RuleScenario.objects.get(rule_id=second)
    assert api.get(url(f"rules/{first}/scenarios/{other.pk}")).status_code == 404


def test_save_runs_the_scenarios_and_stores_results(api, url, paid_referrer):
    rule_id = create(api, url)
    add_scenario(api, url, rule_id, "premium matches", PREMIUM, {"matched": True})
    add_scenario(api, url, rule_id, "basic does not", BASIC, {"matched": False})
    changed = rule_def(
        conditions={
            "operator": "AND",
            "conditions": [
                {"field": "referred.subscription_plan", "operator": "equals", "value": "basic"}
            ],
        }
    )
    before = money_rows()
    response = api.put(url(f"rules/{rule_id}"), changed, format="json")
    assert response.status_code == 200, response.content
    ran = response.json()["scenarios"]
    assert (ran["total"], ran["failed"]) == (2, 2)
    assert {r["name"]: r["passed"] for r in ran["results"]} == {
        "premium matches": False,
        "basic does not": False,
    }
    stored: dict[str, Any] = {s.name: s.last_result for s in RuleScenario.objects.all()}
    assert all(r["version"] == 2 and r["passed"] is False for r in stored.values())
    assert stored["premium matches"]["message"] == "expected the rule to match; it did not"
    # One new version, nothing else written.
    assert money_rows()[:5] == before[:5] and money_rows()[5] == before[5] + 1


def test_run_with_a_definition_writes_nothing_and_without_stores(api, url, paid_referrer):
    rule_id = create(api, url)
    sid = add_scenario(api, url, rule_id, "premium", PREMIUM, {"matched": True})["id"]
    stored = RuleScenario.objects.get(pk=sid).last_result
    never = rule_def(
        conditions={
            "operator": "AND",
            "conditions": [
                {"field": "referred.subscription_plan", "operator": "equals", "value": "gold"}
            ],
        }
    )
    before = money_rows()
    body = api.post(
        url(f"rules/{rule_id}/scenarios/run"), {"definition": never}, format="json"
    ).json()
    assert body["passed"] is False and body["results"][0]["actual"]["matched"] is False
    assert RuleScenario.objects.get(pk=sid).last_result == stored
    bad = api.post(
        url(f"rules/{rule_id}/scenarios/run"), {"definition": {"name": "x"}}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["code"] == "rule_invalid"
    body = api.post(url(f"rules/{rule_id}/scenarios/run"), {}, format="json").json()
    assert body["passed"] is True
    assert (RuleScenario.objects.get(pk=sid).last_result or {})["passed"] is True
    assert money_rows() == before


def test_a_failing_scenario_blocks_publish(api, url, paid_referrer):
    rule_id = create(api, url)
    add_scenario(api, url, rule_id, "basic pays too", BASIC, {"matched": True})
    response = api.post(url(f"rules/{rule_id}/publish"), {}, format="json")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "invalid_transition"
    assert [s["name"] for s in body["scenarios"]] == ["basic pays too"]
    assert body["scenarios"][0]["passed"] is False
    assert Rule.objects.get(pk=rule_id).status == "draft"
    assert not AuditEntry.objects.filter(action="rule.published").exists()
    # Fixing the scenario lets it through.
    sid = body["scenarios"][0]["scenario"]
    api.put(
        url(f"rules/{rule_id}/scenarios/{sid}"),
        {"name": "basic does not pay", "event": BASIC, "expect": {"matched": False}},
        format="json",
    )
    response = api.post(url(f"rules/{rule_id}/publish"), {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "active"


def test_rollback_checks_the_scenarios_against_the_version_published(api, url, paid_referrer):
    rule_id = create(api, url)  # v1 pays 500 for premium
    api.post(url(f"rules/{rule_id}/publish"), {}, format="json")
    cheaper = rule_def(
        actions=[
            {
                **SPEC_RULE["actions"][0],
                "params": {**SPEC_RULE["actions"][0]["params"], "amount": 40000},
            }
        ]
    )
    api.put(url(f"rules/{rule_id}"), cheaper, format="json")  # v2 pays 400
    expect = {
        "matched": True,
        "rewards": [{"beneficiary": "referrer", "amount": 40000, "currency": "INR"}],
    }
    add_scenario(api, url, rule_id, "pays 400", PREMIUM, expect)
    assert (
        api.post(url(f"rules/{rule_id}/publish"), {"version": 2}, format="json").status_code == 200
    )
    refused = api.post(url(f"rules/{rule_id}/publish"), {"version": 1}, format="json")
    assert refused.status_code == 409
    assert "₹400.00" in refused.json()["scenarios"][0]["message"]
    assert (
        Rule.objects.get(pk=rule_id).active_version_id
        == RuleVersion.objects.get(rule_id=rule_id, version=2).pk
    )


def test_staff_without_permissions_cannot_read_or_write_scenarios(
    api, url, client, django_user_model
):
    from django.contrib.auth.models import Group, Permission

    rule_id = create(api, url)
    sid = add_scenario(api, url, rule_id, "s", PREMIUM, {"matched": True})["id"]
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    body = {"name": "t", "event": PREMIUM, "expect": {"matched": True}}
    assert client.get(url(f"rules/{rule_id}/scenarios")).status_code == 403
    assert (
        client.post(
            url("rules/test"),
            {"definition": SPEC_RULE, "event": PREMIUM},
            content_type="application/json",
        ).status_code
        == 403
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_rule"))
    staff = django_user_model.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert client.get(url(f"rules/{rule_id}/scenarios")).status_code == 200
    assert (
        client.post(
            url("rules/test"),
            {"definition": SPEC_RULE, "event": PREMIUM},
            content_type="application/json",
        ).status_code
        == 200
    )
    # Reading is not writing.
    assert (
        client.post(
            url(f"rules/{rule_id}/scenarios"), body, content_type="application/json"
        ).status_code
        == 403
    )
    assert (
        client.put(
            url(f"rules/{rule_id}/scenarios/{sid}"), body, content_type="application/json"
        ).status_code
        == 403
    )
    assert client.delete(url(f"rules/{rule_id}/scenarios/{sid}")).status_code == 403
    assert (
        client.post(
            url(f"rules/{rule_id}/scenarios/run"), {}, content_type="application/json"
        ).status_code
        == 403
    )
    assert RuleScenario.objects.count() == 1
    staff.groups.add(Group.objects.get(name="rule authors"))
    staff = django_user_model.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert (
        client.post(
            url(f"rules/{rule_id}/scenarios"), body, content_type="application/json"
        ).status_code
        == 201
    )


def test_the_schedule_counts_in_tests_and_scenarios(api, url, paid_referrer):
    """An event outside the version's active_from / active_until is skipped by the pipeline:
    a test says so and does not match; a scenario sees the same."""
    scheduled = rule_def(
        active_from="2026-06-01T00:00:00+05:30", active_until="2026-07-01T00:00:00+05:30"
    )
    before_start = {**PREMIUM, "occurred_at": "2026-05-31T18:29:59Z"}
    at_start = {**PREMIUM, "occurred_at": "2026-05-31T18:30:00Z"}
    at_end = {**PREMIUM, "occurred_at": "2026-06-30T18:30:00Z"}

    def test(event: dict) -> dict:
        response = api.post(
            url("rules/test"), {"definition": scheduled, "event": event}, format="json"
        )
        assert response.status_code == 200, response.content
        return response.json()

    early = test(before_start)
    assert early["matched"] is False and early["conditions_matched"] is True
    assert early["actions"] == [] and "not active yet" in early["warnings"][0]
    assert test(at_start)["matched"] is True
    late = test(at_end)
    assert late["matched"] is False and "expired" in late["warnings"][0]

    rule_id = create(api, url, scheduled)
    add_scenario(api, url, rule_id, "too early", before_start, {"matched": False})
    add_scenario(api, url, rule_id, "in time", at_start, {"matched": True})
    body = api.post(url(f"rules/{rule_id}/scenarios/run"), {}, format="json").json()
    assert body["passed"] is True, body


def test_a_rule_keeps_at_most_so_many_scenarios(api, url, monkeypatch):
    from rules.services import scenarios

    monkeypatch.setattr(scenarios, "MAX_SCENARIOS_PER_RULE", 2)
    rule_id = create(api, url)
    add_scenario(api, url, rule_id, "one", PREMIUM, {"matched": True})
    add_scenario(api, url, rule_id, "two", BASIC, {"matched": False})
    third = api.post(
        url(f"rules/{rule_id}/scenarios"),
        {"name": "three", "event": PREMIUM, "expect": {"matched": True}},
        format="json",
    )
    assert third.status_code == 400 and RuleScenario.objects.count() == 2


def test_hostile_scenario_input_is_400_never_500(api, url):
    rule_id = create(api, url)
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["a"] = {}
        node = node["a"]
    for body in (
        {"name": "nul\u0000", "event": PREMIUM, "expect": {"matched": True}},
        {"name": "deep", "event": {**PREMIUM, "attributes": deep}, "expect": {"matched": True}},
        {
            "name": "big",
            "event": PREMIUM,
            "expect": {"matched": True, "rewards": [{"beneficiary": "referrer", "amount": 10**16}]},
        },
        {
            "name": "many",
            "event": PREMIUM,
            "expect": {"matched": True, "rewards": [{"beneficiary": "referrer", "amount": 1}] * 21},
        },
    ):
        response = api.post(url(f"rules/{rule_id}/scenarios"), body, format="json")
        assert response.status_code in (400, 413), (body["name"], response.content[:300])
    raw = api.post(
        url(f"rules/{rule_id}/scenarios"),
        '{"name": "nul\\u0000", "event": {}, "expect": {}}',
        content_type="application/json",
    )
    assert raw.status_code == 400
    assert not RuleScenario.objects.exists()
