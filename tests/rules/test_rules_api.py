"""Rules API (SPEC §6): lifecycle and versions, validation, test, explain, catalog, schema,
drafting from text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from config.platform.models import AuditEntry
from rules.models import Event, Participant, Rule, RuleVersion
from rules.rewards.models import Reward
from tests.rules.conftest import SPEC_RULE, reward_action, rule_def

pytestmark = pytest.mark.django_db


def create(api, url, definition=SPEC_RULE) -> dict:
    response = api.post(url("rules"), definition, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_is_a_draft_version_one(api, url):
    body = create(api, url)
    assert (body["version"], body["status"], body["active_version"]) == (1, "draft", None)
    assert body["definition"] == SPEC_RULE and body["name"] == SPEC_RULE["name"]
    assert body["trigger"] == "subscription_started"
    assert AuditEntry.objects.filter(action="rule.created", object_id=str(body["id"])).exists()


def test_versions_publish_and_rollback(api, url):
    rule_id = create(api, url)["id"]
    published = api.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()
    assert (published["status"], published["active_version"]) == ("active", 1)
    v2 = rule_def(priority=99, name="Premium v2")
    updated = api.put(url(f"rules/{rule_id}"), v2, format="json").json()
    # A new version is a draft: the active one stays until published.
    assert (updated["version"], updated["active_version"], updated["priority"]) == (2, 1, 10)
    published = api.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()
    assert (published["active_version"], published["priority"]) == (2, 99)
    rolled_back = api.post(url(f"rules/{rule_id}/publish"), {"version": 1}, format="json").json()
    assert (rolled_back["active_version"], rolled_back["priority"], rolled_back["version"]) == (
        1,
        10,
        2,
    )
    versions = api.get(url(f"rules/{rule_id}/versions")).json()["results"]
    assert [(v["version"], v["active"]) for v in versions] == [(2, False), (1, True)]
    assert versions[0]["definition"] == v2 and versions[1]["definition"] == SPEC_RULE
    missing = api.post(url(f"rules/{rule_id}/publish"), {"version": 7}, format="json")
    assert missing.status_code == 404


def test_versions_are_immutable(api, url):
    rule_id = create(api, url)["id"]
    api.put(url(f"rules/{rule_id}"), rule_def(priority=1), format="json")
    assert RuleVersion.objects.get(rule_id=rule_id, version=1).definition == SPEC_RULE


def test_archive_stops_evaluation_and_publish_revives(api, url):
    rule_id = create(api, url)["id"]
    api.post(url(f"rules/{rule_id}/publish"), {}, format="json")
    archived = api.post(url(f"rules/{rule_id}/archive"), format="json")
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert api.post(url(f"rules/{rule_id}/archive"), format="json").json()["status"] == "archived"
    from rules.selectors import active_rule_versions

    program = Rule.objects.get(pk=rule_id).program
    assert active_rule_versions(program=program, trigger="subscription_started") == []
    refused = api.put(url(f"rules/{rule_id}"), SPEC_RULE, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    revived = api.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()
    assert revived["status"] == "active"


def test_list_rules_with_status_and_versions(api, url):
    first = create(api, url)["id"]
    second = create(api, url, rule_def(name="Other", trigger="purchase"))["id"]
    api.post(url(f"rules/{first}/publish"), {}, format="json")
    api.put(url(f"rules/{first}"), rule_def(name="Renamed"), format="json")
    listed = {r["id"]: r for r in api.get(url("rules")).json()["results"]}
    assert (listed[first]["status"], listed[first]["active_version"]) == ("active", 1)
    assert (listed[first]["latest_version"], listed[first]["name"]) == (2, "Renamed")
    assert listed[first]["updated_at"]
    assert (listed[second]["status"], listed[second]["trigger"]) == ("draft", "purchase")
    active = api.get(url("rules"), {"status": "active"}).json()["results"]
    assert [r["id"] for r in active] == [first]


def test_invalid_rule_is_400_with_paths_and_writes_nothing(api, url):
    bad = rule_def(trigger="no_such_trigger")
    bad["conditions"]["conditions"][0]["operator"] = "roughly"
    response = api.post(url("rules"), bad, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "rule_invalid"
    paths = {e["path"] for e in body["errors"]}
    assert "$.conditions.conditions[0].operator" in paths
    assert not Rule.objects.exists()
    not_object = api.post(url("rules"), [1, 2], format="json")
    assert not_object.status_code == 400 and not_object.json()["code"] == "rule_invalid"


def test_validate_endpoint(api, url):
    assert api.post(url("rules/validate"), SPEC_RULE, format="json").json() == {"valid": True}
    bad = rule_def()
    bad["actions"][0]["params"]["amount"] = -5
    response = api.post(url("rules/validate"), bad, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"].startswith("$.actions[0].params")


def test_semantic_validation_knows_the_programs_custom_triggers(api, url, program):
    from rules.selectors import rules_config_get

    custom = rule_def(
        trigger="course_completed",
        conditions={
            "operator": "AND",
            "conditions": [{"field": "event.score", "operator": "greater_than", "value": 80}],
        },
    )
    assert api.post(url("rules/validate"), custom, format="json").status_code == 400
    config = rules_config_get(program=program)
    config.custom_catalog = {
        "triggers": {"course_completed": {"fields": {"event.score": "number"}}}
    }
    config.save()
    assert api.post(url("rules/validate"), custom, format="json").status_code == 200
    catalog = api.get(url("rules/catalog")).json()
    assert "course_completed" in catalog["triggers"]
    assert {"signup", "referral_created", "subscription_started", "purchase", "refund"} <= set(
        catalog["triggers"]
    )


def test_test_endpoint_returns_trace_and_actions_and_writes_nothing(api, url, refer):
    api.put(url("participants/alice"), {"attributes": {"is_paid_user": True}}, format="json")
    refer("alice", "bob")
    rule_id = create(api, url)["id"]
    counts = (Event.objects.count(), Reward.objects.count(), Participant.objects.count())
    event = {
        "type": "subscription_started",
        "user": "bob",
        "attributes": {"subscription_plan": "premium"},
    }
    body = api.post(url(f"rules/{rule_id}/test"), {"event": event}, format="json").json()
    assert body["matched"] is True and body["version"] == 1
    assert [(t["field"], t["expected"], t["actual"], t["result"]) for t in body["trace"]] == [
        ("referrer.is_paid_user", True, True, True),
        ("referred.subscription_plan", "premium", "premium", True),
    ]
    [action] = body["actions"]
    assert (action["beneficiary_id"], action["amount"], action["skipped"]) == ("alice", 50000, None)
    assert (Event.objects.count(), Reward.objects.count(), Participant.objects.count()) == counts
    assert "subscription_plan" not in Participant.objects.get(external_id="bob").attributes
    basic = {**event, "attributes": {"subscription_plan": "basic"}}
    body = api.post(url(f"rules/{rule_id}/test"), {"event": basic}, format="json").json()
    assert body["matched"] is False and body["actions"] == []
    other = {**event, "type": "purchase"}
    body = api.post(url(f"rules/{rule_id}/test"), {"event": other}, format="json").json()
    assert body["matched"] is False and body["warnings"]


def test_explain(api, url):
    rule_id = create(api, url)["id"]
    text = api.get(url(f"rules/{rule_id}/explain")).json()["text"]
    assert "premium" in text and "voucher" in text and text.endswith(".")
    assert api.get(url(f"rules/{rule_id}/explain"), {"version": "x"}).status_code == 400


def test_schema_is_served(api, url):
    schema = api.get(url("rules/schema")).json()
    assert schema["$schema"].startswith("https://json-schema.org/draft/2020-12")
    assert "limits" in schema["properties"]


def test_draft_from_text_offline_gives_the_spec_example(api, url, settings):
    settings.GROQ_API_KEY = ""
    text = "When a paid user refers someone who subscribes to premium, reward 500 rupees voucher"
    body = api.post(url("rules/draft-from-text"), {"text": text}, format="json").json()
    assert body["source"] == "offline" and body["warnings"] == []
    for key in ("trigger", "conditions", "actions"):
        assert body["definition"][key] == SPEC_RULE[key]
    assert not Rule.objects.exists()  # never published, not even saved


def test_draft_from_text_uses_groq_when_a_key_is_set(api, url, settings, monkeypatch):
    """The real groq SDK, with only its HTTP transport mocked."""
    import json

    from rules import llm

    settings.GROQ_API_KEY = "gsk_test"
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        content = json.dumps(SPEC_RULE)
        return httpx.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
            },
        )

    client = httpx.Client(transport=httpx.MockTransport(handler))
    real = llm.draft_with_llm
    monkeypatch.setattr(
        llm, "draft_with_llm", lambda *a, **kw: real(*a, **{**kw, "http_client": client})
    )
    body = api.post(url("rules/draft-from-text"), {"text": "anything"}, format="json").json()
    assert body["source"] == "llm" and body["definition"] == SPEC_RULE
    assert "groq" in seen["url"]


def test_staff_session_may_use_rules_endpoints(client, url, program, django_user_model):
    from django.contrib.auth.models import Group

    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    # With the permission the route needs (docs/OPERATIONS.md): a rule author's.
    assert client.get(url("rules/catalog")).status_code == 403
    staff.groups.add(Group.objects.get(name="rule authors"))
    assert client.get(url("rules/catalog")).status_code == 200


def test_unknown_rule_is_404(api, url):
    assert api.get(url("rules/999")).status_code == 404
    assert api.post(url("rules/999/publish"), {}, format="json").status_code == 404


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        (rule_def(actions=[reward_action(500, currency="USD")]), "$.actions[0].params.currency"),
        (
            rule_def(actions=[{"type": "award_credits", "params": {"operation": "NOPE"}}]),
            "$.actions[0].params.operation",
        ),
        (rule_def(priority=10**12), "$.priority"),
    ],
)
def test_rules_that_could_never_run_are_400(api, url, definition, path):
    """A foreign currency or unknown operation was skipped on every event; a huge priority
    was a 500 on publish."""
    response = api.post(url("rules"), definition, format="json")
    assert response.status_code == 400 and response.json()["code"] == "rule_invalid"
    assert path in [e["path"] for e in response.json()["errors"]]
    assert not Rule.objects.exists()


def test_deeply_nested_conditions_are_400_not_500(api, url):
    def nested(groups: int) -> dict:
        node: dict[str, Any] = {"field": "referred.country", "operator": "equals", "value": "IN"}
        for _ in range(groups):
            node = {"operator": "AND", "conditions": [node]}
        return node

    # 100 groups nest 200 JSON levels: the body is refused before it is read (SPEC §1).
    response = api.post(url("rules"), rule_def(conditions=nested(100)), format="json")
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    # 33 fit the body's limit for definitions (68 levels) and break the rule's (32 groups).
    response = api.post(url("rules"), rule_def(conditions=nested(33)), format="json")
    assert response.status_code == 400 and response.json()["code"] == "rule_invalid"
    assert response.json()["errors"][0]["path"].startswith("$.conditions.conditions[0]")
    # 32 groups, wrapped as {"definition": ...}, with a list value: valid.
    leaf = {"field": "referred.country", "operator": "in", "value": ["IN", "US"]}
    node: dict[str, Any] = leaf
    for _ in range(32):
        node = {"operator": "AND", "conditions": [node]}
    response = api.post(
        url("rules/validate"), {"definition": rule_def(conditions=node)}, format="json"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("raw", ["²", "\uff10", "0", "-1", "1.0", " 1", "99999999999999999999"])
def test_explain_version_must_be_an_ascii_positive_integer(api, url, raw):
    rule_id = create(api, url)["id"]
    response = api.get(url(f"rules/{rule_id}/explain"), {"version": raw})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "version"
