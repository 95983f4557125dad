"""Attacks on issue 15's rule authoring (helper G): the new routes as each staff group, the
two-person publish played by one person, objects of another rule or program reached by id,
saved scenarios that a publish tries to get around, and hostile input on every new body and
query (a problem+json 4xx with a SPEC code, never a 500, never a half-written effect)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from config.platform.api_keys import api_key_create
from config.platform.models import AuditEntry
from rules.models import Rule, RuleProgramConfig, RulePublishRequest, RuleScenario, RuleVersion
from rules.rewards.services.programs import program_create
from rules.services.program_config import rules_config_update
from rules.services.rules import rule_create, rule_publish
from tests.conftest import ensure_groups
from tests.rules.conftest import SPEC_RULE, rule_def

pytestmark = pytest.mark.django_db

SPEC_CODES = {
    "validation_error",
    "authentication_failed",
    "permission_denied",
    "four_eyes_violation",
    "not_found",
    "invalid_transition",
    "rule_invalid",
    "payload_too_large",
    "currency_mismatch",
}
GROUPS = ["operators", "approvers", "rule authors", "key managers", "api clients"]
EVENT = {"type": "purchase", "user": "u1", "data": {"amount": 100, "currency": "INR"}}
MATCHES = {"name": "always", "event": EVENT, "expect": {"matched": False}}


def staff(name: str, *groups: str, superuser: bool = False) -> APIClient:
    """An API client logged in (session) as a staff user in these groups."""
    ensure_groups()
    user_model = get_user_model()
    user = user_model.objects.filter(username=name).first()
    if user is None:
        user = user_model.objects.create_user(
            name, password="x", is_staff=True, is_superuser=superuser
        )
        for group in groups:
            user.groups.add(Group.objects.get(name=group))
    client = APIClient()
    client.force_login(user)
    return client


def keyed(program, name: str, *groups: str) -> APIClient:
    """An API client whose key acts as staff user `name`."""
    staff(name, *groups)
    owner = get_user_model().objects.get(username=name)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program, owner=owner)[1]}"
    )
    return client


def assert_problem(response, status: int | tuple[int, ...]) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.content[:400])
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["code"] in SPEC_CODES, body
    return body


@pytest.fixture
def two_person(program):
    rules_config_update(
        program=program, changes={"rules_publish_requires_approval": True}, actor="test"
    )


@pytest.fixture
def rule(program):
    return rule_create(program=program, definition=SPEC_RULE, actor="user:author")


# --- every new route, as each group ----------------------------------------------------------

# (method, path under P/, permission from docs/OPERATIONS.md)
ROUTES = [
    ("post", "rules/test", "rules.view_rule"),
    ("get", "rules/{rule}/scenarios", "rules.view_rule"),
    ("post", "rules/{rule}/scenarios", "rules.change_rule"),
    ("post", "rules/{rule}/scenarios/run", "rules.change_rule"),
    ("get", "rules/{rule}/scenarios/{sid}", "rules.view_rule"),
    ("put", "rules/{rule}/scenarios/{sid}", "rules.change_rule"),
    ("delete", "rules/{rule}/scenarios/{sid}", "rules.change_rule"),
    ("get", "rules/{rule}/publish-requests", "rules.view_rule"),
    ("post", "rules/{rule}/publish-requests/{rid}/approve", "rules.approve_rulepublishrequest"),
    ("post", "rules/{rule}/publish-requests/{rid}/reject", "rules.change_rule"),
    ("get", "rules/{rule}/results", "rules.view_rule"),
    ("post", "rules/{rule}/publish", "rules.change_rule"),
    ("get", "events/{event}/explain", "rules.view_event"),
    ("get", "tiers", "tiers.view_tier"),
    ("put", "tiers", "tiers.change_tier"),
]
# What the route table in docs/OPERATIONS.md grants each group.
DOCUMENTED = {
    "operators": {"rules.view_event", "tiers.view_tier"},
    "approvers": {"tiers.view_tier"},
    "rule authors": {
        "rules.view_rule",
        "rules.change_rule",
        "rules.approve_rulepublishrequest",
        "rules.view_event",
        "tiers.view_tier",
        "tiers.change_tier",
    },
    "key managers": set(),
    "api clients": {
        "rules.view_rule",
        "rules.change_rule",
        "rules.view_event",
        "tiers.view_tier",
        "tiers.change_tier",
    },
    "": set(),
}


def _world(program):
    from rules.services.events import event_ingest

    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:author")
    scenario = RuleScenario.objects.create(
        rule=rule, name="s", event=EVENT, expect={"matched": False}, created_by="user:author"
    )
    request = RulePublishRequest.objects.create(
        rule=rule, version=RuleVersion.objects.get(rule=rule, version=1), requested_by="user:x"
    )
    event_ingest(
        program=program,
        event_id="e1",
        type="purchase",
        user="u1",
        data={"amount": 100, "currency": "INR"},
        attributes={},
        occurred_at=None,
        actor="t",
    )
    return {"rule": rule.pk, "sid": scenario.pk, "rid": request.pk, "event": "e1"}


BODIES = {
    "rules/test": {"definition": SPEC_RULE, "event": EVENT},
    "rules/{rule}/scenarios": {"name": "n2", "event": EVENT, "expect": {"matched": False}},
    "rules/{rule}/scenarios/{sid}": {"name": "n3", "event": EVENT, "expect": {"matched": False}},
    "rules/{rule}/publish-requests/{rid}/reject": {"reason": "no"},
    "tiers": {"tiers": []},
}


@pytest.mark.parametrize("group", [*GROUPS, ""])
def test_each_new_route_is_open_to_exactly_the_documented_groups(program, group, settings):
    settings.CELERY_BROKER_URL = ""
    ids = _world(program)
    client = staff(f"u-{group.replace(' ', '-') or 'nogroup'}", *([group] if group else []))
    wrong = []
    for method, path, permission in ROUTES:
        full = f"/api/v1/programs/acme/{path.format(**ids)}"
        body = BODIES.get(path, {})
        response = (
            getattr(client, method)(full, body, format="json")
            if method != "get"
            else (client.get(full))
        )
        allowed = permission in DOCUMENTED[group]
        if (
            allowed
            and response.status_code == 403
            and response.json()["code"] == ("permission_denied")
        ):
            wrong.append(f"{method.upper()} {path}: refused, documented as allowed")
        if not allowed and response.status_code != 403:
            wrong.append(f"{method.upper()} {path}: {response.status_code}, documented as 403")
        if response.status_code >= 500:
            wrong.append(f"{method.upper()} {path}: {response.status_code}")
    assert not wrong, wrong


def test_the_route_table_documents_the_approve_permission():
    from pathlib import Path

    table = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text()
    row = next(
        line for line in table.splitlines() if "P/rules/{pk}/publish-requests/{rid}/approve" in line
    )
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert cells[1] == "`rules.approve_rulepublishrequest`", cells
    assert cells[2:] == ["", "", "✓", "", ""], cells


@pytest.mark.parametrize("group", [*GROUPS, ""])
def test_builder_pages_need_view_rule(program, group):
    # no priority: see test_the_builder_list_shows_a_rule_with_a_priority for why
    definition = {k: v for k, v in SPEC_RULE.items() if k != "priority"}
    rule = rule_create(program=program, definition=definition, actor="t")
    ensure_groups()
    user = get_user_model().objects.create_user(f"b{len(group)}", password="x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    allowed = group in ("rule authors", "api clients")
    for path in ["/builder/", "/builder/acme/rules/new", f"/builder/acme/rules/{rule.pk}"]:
        status = client.get(path).status_code
        assert (status == 200) if allowed else (status == 403), (group, path, status)


def test_the_builder_list_shows_a_rule_with_a_priority(program):
    rule_create(program=program, definition=rule_def(priority=10), actor="t")
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw"))
    response = client.get("/builder/")
    assert response.status_code == 200


# --- one person acting as two on the two-person publish ---------------------------------------


def test_requester_cannot_approve_through_any_own_key_or_session(program, rule, two_person):
    rita_key, rita_session = keyed(program, "rita", "rule authors"), staff("rita")
    asked = rita_session.post(f"/api/v1/programs/acme/rules/{rule.pk}/publish", {}, format="json")
    assert asked.status_code == 202, asked.content
    rid = asked.json()["publish_request"]["id"]
    approve = f"/api/v1/programs/acme/rules/{rule.pk}/publish-requests/{rid}/approve"
    for client in (rita_key, keyed(program, "rita"), rita_session):
        body = assert_problem(client.post(approve), 403)
        assert body["code"] == "four_eyes_violation"
    assert Rule.objects.get(pk=rule.pk).status == "draft"


def test_a_superuser_requester_cannot_approve_their_own_request(program, rule, two_person):
    root = staff("root", superuser=True)
    rid = root.post(f"/api/v1/programs/acme/rules/{rule.pk}/publish", {}, format="json").json()[
        "publish_request"
    ]["id"]
    response = root.post(f"/api/v1/programs/acme/rules/{rule.pk}/publish-requests/{rid}/approve")
    assert assert_problem(response, 403)["code"] == "four_eyes_violation"
    assert Rule.objects.get(pk=rule.pk).status == "draft"


def test_direct_publish_and_admin_publish_only_ask_while_approval_is_required(
    program, rule, two_person
):
    author = staff("rita", "rule authors")
    response = author.post(
        f"/api/v1/programs/acme/rules/{rule.pk}/publish", {"version": 1}, format="json"
    )
    assert response.status_code == 202
    admin_client = Client()
    admin_client.force_login(get_user_model().objects.get(username="rita"))
    admin_client.post(
        "/admin/rules/rule/",
        {"action": "publish", "_selected_action": [rule.pk], "confirmed": "yes", "post": "yes"},
    )
    assert Rule.objects.get(pk=rule.pk).status == "draft"
    assert Rule.objects.get(pk=rule.pk).active_version_id is None
    assert RulePublishRequest.objects.filter(rule=rule, status="pending").count() == 1


def test_a_rule_author_cannot_switch_off_the_two_person_rule_to_publish_alone(
    program, rule, two_person
):
    author = staff("rita", "rule authors")
    config = RuleProgramConfig.objects.get(program=program)
    admin_client = Client()
    admin_client.force_login(get_user_model().objects.get(username="rita"))
    admin_client.post(
        f"/admin/rules/ruleprogramconfig/{config.pk}/change/",
        {
            "fraud_max_referrals_per_hour": str(config.fraud_max_referrals_per_hour or 0),
            "fraud_match_attributes": json.dumps(config.fraud_match_attributes or []),
            "custom_catalog": json.dumps(config.custom_catalog or {}),
            # the checkbox left out: off
        },
    )
    author.post(f"/api/v1/programs/acme/rules/{rule.pk}/publish", {}, format="json")
    # One person, one publish, no second pair of eyes: the rule must not be live.
    assert Rule.objects.get(pk=rule.pk).status != "active"


def test_approving_a_request_of_another_rule_or_program_by_id_is_404(program, two_person):
    other_program, _ = program_create(slug="other", name="Other", currency="INR")
    rules_config_update(
        program=other_program, changes={"rules_publish_requires_approval": True}, actor="t"
    )
    mine = rule_create(program=program, definition=SPEC_RULE, actor="user:x")
    sibling = rule_create(program=program, definition=SPEC_RULE, actor="user:x")
    theirs = rule_create(program=other_program, definition=SPEC_RULE, actor="user:x")
    requests = {}
    for r in (sibling, theirs):
        requests[r.pk] = RulePublishRequest.objects.create(
            rule=r, version=RuleVersion.objects.get(rule=r, version=1), requested_by="user:x"
        ).pk
    sam = staff("sam", "rule authors")
    for target in (sibling, theirs):
        rid = requests[target.pk]
        for action, body in (("approve", {}), ("reject", {"reason": "x"})):
            response = sam.post(
                f"/api/v1/programs/acme/rules/{mine.pk}/publish-requests/{rid}/{action}",
                body,
                format="json",
            )
            assert assert_problem(response, 404)["code"] == "not_found"
    # the other program's rule through this program's path, and this key on the other program
    response = sam.post(
        f"/api/v1/programs/acme/rules/{theirs.pk}/publish-requests/{requests[theirs.pk]}/approve"
    )
    assert assert_problem(response, 404)["code"] == "not_found"
    key = APIClient()
    key.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program)[1]}")
    response = key.post(
        f"/api/v1/programs/other/rules/{theirs.pk}/publish-requests/{requests[theirs.pk]}/approve"
    )
    assert response.status_code == 404
    assert not Rule.objects.filter(status="active").exists()
    assert set(RulePublishRequest.objects.values_list("status", flat=True)) == {"pending"}


def test_superseded_and_rejected_requests_cannot_be_approved(program, two_person):
    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:rita")
    rita, sam = staff("rita", "rule authors"), staff("sam", "rule authors")
    base = f"/api/v1/programs/acme/rules/{rule.pk}"
    first = rita.post(f"{base}/publish", {}, format="json").json()["publish_request"]["id"]
    rita.put(base, rule_def(name="v2"), format="json")
    second = rita.post(f"{base}/publish", {}, format="json").json()["publish_request"]["id"]
    assert RulePublishRequest.objects.get(pk=first).status == "superseded"
    assert (
        assert_problem(sam.post(f"{base}/publish-requests/{first}/approve"), 409)["code"]
        == "invalid_transition"
    )
    rejected = sam.post(f"{base}/publish-requests/{second}/reject", {"reason": "no"}, format="json")
    assert rejected.status_code == 200
    assert (
        assert_problem(sam.post(f"{base}/publish-requests/{second}/approve"), 409)["code"]
        == "invalid_transition"
    )
    assert Rule.objects.get(pk=rule.pk).active_version_id is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_publish_once(program):
    rules_config_update(
        program=program, changes={"rules_publish_requires_approval": True}, actor="test"
    )
    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:rita")
    rid = RulePublishRequest.objects.create(
        rule=rule, version=RuleVersion.objects.get(rule=rule, version=1), requested_by="user:rita"
    ).pk
    clients = [keyed(program, "sam", "rule authors"), keyed(program, "tom", "rule authors")]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def approve(client):
        try:
            barrier.wait()
            statuses.append(
                client.post(
                    f"/api/v1/programs/acme/rules/{rule.pk}/publish-requests/{rid}/approve"
                ).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409]
    assert AuditEntry.objects.filter(action="rule.published", object_id=str(rule.pk)).count() == 1
    assert AuditEntry.objects.filter(action="rule.publish_approved").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_approve_and_reject_at_once_decide_once(program):
    rules_config_update(
        program=program, changes={"rules_publish_requires_approval": True}, actor="test"
    )
    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:rita")
    rid = RulePublishRequest.objects.create(
        rule=rule, version=RuleVersion.objects.get(rule=rule, version=1), requested_by="user:rita"
    ).pk
    sam, tom = keyed(program, "sam", "rule authors"), keyed(program, "tom", "rule authors")
    barrier = threading.Barrier(2)
    statuses: dict[str, int] = {}
    base = f"/api/v1/programs/acme/rules/{rule.pk}/publish-requests/{rid}"

    def run(name, client, path, body):
        try:
            barrier.wait()
            statuses[name] = client.post(path, body, format="json").status_code
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("approve", sam, f"{base}/approve", {})),
        threading.Thread(target=run, args=("reject", tom, f"{base}/reject", {"reason": "no"})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses.values()) == [200, 409], statuses
    final = RulePublishRequest.objects.get(pk=rid).status
    active = Rule.objects.get(pk=rule.pk).status == "active"
    assert (final == "approved") == active == (statuses["approve"] == 200)


# --- saved scenarios: no way around a failing one -------------------------------------------


def _failing_scenario(rule) -> RuleScenario:
    """A scenario the SPEC rule fails: it expects a match for an event that cannot match."""
    return RuleScenario.objects.create(
        rule=rule, name="must match", event=EVENT, expect={"matched": True}, created_by="user:x"
    )


def test_a_failing_scenario_blocks_publish_rollback_and_the_admin(program):
    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:x")
    rule_publish(rule=rule, actor="test")  # v1 active, before any scenario
    author = staff("rita", "rule authors")
    base = f"/api/v1/programs/acme/rules/{rule.pk}"
    assert author.put(base, rule_def(name="v2"), format="json").status_code == 200
    _failing_scenario(rule)
    for version in (1, 2, None):
        body = {} if version is None else {"version": version}
        response = author.post(f"{base}/publish", body, format="json")
        problem = assert_problem(response, 409)
        assert problem["code"] == "invalid_transition" and problem["scenarios"]
    admin_client = Client()
    admin_client.force_login(get_user_model().objects.get(username="rita"))
    admin_client.post(
        "/admin/rules/rule/",
        {"action": "publish", "_selected_action": [rule.pk], "confirmed": "yes", "post": "yes"},
    )
    active = Rule.objects.get(pk=rule.pk).active_version
    assert active is not None and active.version == 1


def test_a_request_made_before_a_failing_scenario_cannot_be_approved(program, two_person):
    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:rita")
    rita, sam = staff("rita", "rule authors"), staff("sam", "rule authors")
    base = f"/api/v1/programs/acme/rules/{rule.pk}"
    rid = rita.post(f"{base}/publish", {}, format="json").json()["publish_request"]["id"]
    _failing_scenario(rule)
    problem = assert_problem(sam.post(f"{base}/publish-requests/{rid}/approve"), 409)
    assert problem["code"] == "invalid_transition" and problem["scenarios"]
    assert Rule.objects.get(pk=rule.pk).status == "draft"
    assert RulePublishRequest.objects.get(pk=rid).status == "pending"


def test_a_scenario_of_another_rule_is_not_reachable_under_this_one(program):
    mine = rule_create(program=program, definition=SPEC_RULE, actor="user:x")
    other = rule_create(program=program, definition=SPEC_RULE, actor="user:x")
    theirs = _failing_scenario(other)
    author = staff("rita", "rule authors")
    path = f"/api/v1/programs/acme/rules/{mine.pk}/scenarios/{theirs.pk}"
    assert assert_problem(author.get(path), 404)["code"] == "not_found"
    body = {"name": "hijack", "event": EVENT, "expect": {"matched": False}}
    assert assert_problem(author.put(path, body, format="json"), 404)["code"] == "not_found"
    assert assert_problem(author.delete(path), 404)["code"] == "not_found"
    theirs.refresh_from_db()
    assert (theirs.name, theirs.rule_id) == ("must match", other.pk)


# --- hostile input -----------------------------------------------------------------------------


def _counts() -> tuple[int, ...]:
    return (
        Rule.objects.count(),
        RuleVersion.objects.count(),
        RuleScenario.objects.count(),
        RulePublishRequest.objects.count(),
        AuditEntry.objects.count(),
    )


def _deep(levels: int) -> dict:
    node: dict = {"x": 1}
    for _ in range(levels):
        node = {"a": node}
    return node


HOSTILE_EVENTS = [
    {**EVENT, "user": "a\x00b"},
    {**EVENT, "type": "pur\x00chase"},
    {**EVENT, "data": {"amount": 100, "currency": "INR", "note": "a\x00"}},
    {**EVENT, "data": {"k\x00": 1}},
    {**EVENT, "occurred_at": "2026-02-30T00:00:00Z"},
    {**EVENT, "occurred_at": "0000-01-01T00:00:00Z"},
    {**EVENT, "occurred_at": "99999-01-01T00:00:00Z"},
    {**EVENT, "occurred_at": "0001-01-01T00:00:00+14:00"},
    {**EVENT, "occurred_at": "9999-12-31T23:00:00-12:00"},
    {**EVENT, "occurred_at": 1},
    {**EVENT, "attributes": _deep(80)},
    {**EVENT, "attributes": []},
    {**EVENT, "id": "x" * 300},
    {**EVENT, "unknown": 1},
    [EVENT],
    "event",
]
HOSTILE_DEFINITIONS: list[Any] = [
    rule_def(active_from="2026-05-01T00:00:00Z", active_until="2026-04-01T00:00:00Z"),
    rule_def(active_from="2026-02-30T00:00:00Z"),
    rule_def(active_from="0000-01-01T00:00:00Z"),
    rule_def(active_until="99999-01-01T00:00:00Z"),
    rule_def(active_from="0001-01-01T00:00:00+14:00"),
    rule_def(active_until="9999-12-31T23:59:59-12:00"),
    rule_def(active_from="2026-01-01"),
    rule_def(active_from=20260101),
    rule_def(description="a\x00"),
    rule_def(description="d" * 2001),
    rule_def(description=["x"]),
    rule_def(name="n" * 100_000),
    rule_def(priority=2**63),
    rule_def(priority=-(2**63) - 1),
    rule_def(priority=1e308),
    rule_def(unknown_key=1),
    _deep(80),
    [],
    "x",
    None,
]


def test_hostile_bodies_on_rules_test_and_scenarios_are_4xx_problems(program, rule):
    author = staff("rita", "rule authors")
    base = f"/api/v1/programs/acme/rules/{rule.pk}"
    RuleScenario.objects.create(
        rule=rule, name="kept", event=EVENT, expect={"matched": False}, created_by="t"
    )
    sid = RuleScenario.objects.get(name="kept").pk
    before = _counts()
    for event in HOSTILE_EVENTS:
        assert_problem(
            author.post(
                "/api/v1/programs/acme/rules/test",
                {"definition": SPEC_RULE, "event": event},
                format="json",
            ),
            (400, 413),
        )
        for method, path in (("post", f"{base}/scenarios"), ("put", f"{base}/scenarios/{sid}")):
            body = {"name": "hostile", "event": event, "expect": {"matched": False}}
            assert_problem(getattr(author, method)(path, body, format="json"), (400, 413))
    for definition in HOSTILE_DEFINITIONS:
        assert_problem(
            author.post(
                "/api/v1/programs/acme/rules/test",
                {"definition": definition, "event": EVENT},
                format="json",
            ),
            (400, 413),
        )
        assert_problem(
            author.post(f"{base}/scenarios/run", {"definition": definition}, format="json"),
            (400, 413),
        )
        assert_problem(author.put(base, definition, format="json"), (400, 413))
        assert_problem(
            author.post("/api/v1/programs/acme/rules", definition, format="json"), (400, 413)
        )
    for expect in (
        {"matched": 1},
        {"matched": True, "rewards": [{"beneficiary": "referrer", "amount": 2**63}]},
        {"matched": True, "rewards": [{"beneficiary": "referrer", "amount": -1}]},
        {"matched": True, "rewards": [{"beneficiary": "referrer", "amount": 1.5}]},
        {"matched": True, "rewards": [{"beneficiary": "boss", "amount": 1}]},
        {"matched": True, "rewards": [{"beneficiary": "referrer", "amount": 1, "currency": "x"}]},
        {"matched": False, "rewards": [{"beneficiary": "referrer", "amount": 1}]},
        {"matched": True, "unknown": 1},
        {},
        None,
    ):
        body = {"name": "hostile", "event": EVENT, "expect": expect}
        assert_problem(author.post(f"{base}/scenarios", body, format="json"), 400)
    for name in ("", "a\x00", "n" * 201, 5, None):
        body = {"name": name, "event": EVENT, "expect": {"matched": False}}
        assert_problem(author.post(f"{base}/scenarios", body, format="json"), 400)
    for raw in (
        b'{"definition": {}, "event": {"type": "purchase", "user": "u", "data": {"amount": NaN}}}',
        b'{"definition": Infinity}',
        b"{",
        b"\xff",
    ):
        response = author.generic(
            "POST",
            "/api/v1/programs/acme/rules/test",
            raw,  # type: ignore[arg-type]  # raw bytes on purpose
            content_type="application/json",
        )
        assert_problem(response, 400)
    big = (
        b'{"definition": {}, "event": {"type": "x", "user": "u", "data": {"x": "'
        + (b"a" * 10_000_000)
        + b'"}}}'
    )
    for path in ("/api/v1/programs/acme/rules/test", f"{base}/scenarios", f"{base}/scenarios/run"):
        response = author.generic(
            "POST",
            path,
            big,  # type: ignore[arg-type]  # raw bytes on purpose
            content_type="application/json",
        )
        assert_problem(response, 413)
    assert _counts() == before


def test_hostile_publish_and_reject_bodies(program, rule, two_person):
    author = staff("rita", "rule authors")
    base = f"/api/v1/programs/acme/rules/{rule.pk}"
    before = _counts()
    for version in (0, -1, 2**63, "1", 1.5, True, [1], 99):
        body: dict[str, Any] = {"version": version}
        assert_problem(author.post(f"{base}/publish", body, format="json"), (400, 404))
    rid = author.post(f"{base}/publish", {}, format="json").json()["publish_request"]["id"]
    sam = staff("sam", "rule authors")
    for reason in ("", "   ", "a\x00", "r" * 2001, 5, None, ["x"]):
        body = {"reason": reason}
        assert_problem(sam.post(f"{base}/publish-requests/{rid}/reject", body, format="json"), 400)
    assert_problem(sam.post(f"{base}/publish-requests/{rid}/reject", {}, format="json"), 400)
    for bad in ("abc", "99999999999999999999", "-1"):
        assert sam.post(f"{base}/publish-requests/{bad}/approve").status_code == 404
    assert RulePublishRequest.objects.get(pk=rid).status == "pending"
    assert _counts()[:4] == (before[0], before[1], before[2], before[3] + 1)


@pytest.mark.parametrize(
    "query",
    [
        "from=garbage",
        "from=2026-02-30",
        "from=0000-01-01",
        "from=99999-01-01",
        "from=2026-05-01&to=2026-01-01",
        "from=%00",
        "to=yesterday",
        "from=2020-01-01&to=2026-01-01",
        "unknown=1",
    ],
)
def test_results_refuses_bad_windows(program, rule, query):
    author = staff("rita", "rule authors")
    response = author.get(f"/api/v1/programs/acme/rules/{rule.pk}/results?{query}")
    assert assert_problem(response, 400)["code"] == "validation_error"


@pytest.mark.parametrize(
    "query", ["from=9999-12-31&to=9999-12-31", "from=9999-12-20", "to=0001-01-05"]
)
def test_results_at_the_ends_of_the_calendar_is_not_a_500(program, rule, query):
    author = staff("rita", "rule authors")
    response = author.get(f"/api/v1/programs/acme/rules/{rule.pk}/results?{query}")
    assert response.status_code < 500, response.content
    assert response.status_code in (200, 400)


# --- later additions -------------------------------------------------------------------------


def test_the_backends_service_key_cannot_approve_a_persons_publish_request(
    program, rule, two_person, api
):
    rita = staff("rita", "rule authors")
    base = f"/api/v1/programs/acme/rules/{rule.pk}"
    rid = rita.post(f"{base}/publish", {}, format="json").json()["publish_request"]["id"]
    response = api.post(f"{base}/publish-requests/{rid}/approve")
    assert response.status_code == 403, response.content[:300]
    assert Rule.objects.get(pk=rule.pk).status == "draft"


def test_a_request_overtaken_by_a_direct_publish_cannot_roll_the_rule_back(
    program, rule, two_person
):
    rita, sam = staff("rita", "rule authors"), staff("sam", "rule authors")
    base = f"/api/v1/programs/acme/rules/{rule.pk}"
    rid = rita.post(f"{base}/publish", {}, format="json").json()["publish_request"]["id"]
    rules_config_update(
        program=program, changes={"rules_publish_requires_approval": False}, actor="user:admin"
    )
    assert rita.put(base, rule_def(name="v2"), format="json").status_code == 200
    assert rita.post(f"{base}/publish", {"version": 2}, format="json").status_code == 200
    rules_config_update(
        program=program, changes={"rules_publish_requires_approval": True}, actor="user:admin"
    )
    response = sam.post(f"{base}/publish-requests/{rid}/approve")
    assert response.status_code == 409, response.content[:300]
    active = Rule.objects.get(pk=rule.pk).active_version
    assert active is not None and active.version == 2


def test_testing_unsaved_and_running_scenarios_on_a_canvas_write_nothing(program, rule):
    from ledger.models import Posting
    from rules.models import Event, Participant
    from rules.rewards.models import Reward

    always = rule_def(trigger="purchase", conditions={"operator": "AND", "conditions": []})
    RuleScenario.objects.create(
        rule=rule, name="pays", event=EVENT, expect={"matched": True}, created_by="t"
    )
    last = RuleScenario.objects.get().last_result
    author = staff("rita", "rule authors")

    def counts():
        return (
            Event.objects.count(),
            Participant.objects.count(),
            Reward.objects.count(),
            Posting.objects.count(),
            *_counts(),
        )

    before = counts()
    for user in ("new-user", "u1"):
        event = {**EVENT, "user": user}
        response = author.post(
            "/api/v1/programs/acme/rules/test",
            {"definition": always, "event": event},
            format="json",
        )
        assert response.status_code == 200, response.content[:300]
        assert response.json()["matched"] is True
    response = author.post(
        f"/api/v1/programs/acme/rules/{rule.pk}/scenarios/run",
        {"definition": always},
        format="json",
    )
    assert response.status_code == 200 and response.json()["passed"] is True
    assert counts() == before
    assert RuleScenario.objects.get().last_result == last


def test_a_forged_cross_site_approve_or_publish_is_refused(program, rule, two_person):
    """The builder approves with the staff session: without the CSRF token nothing happens."""
    rid = RulePublishRequest.objects.create(
        rule=rule, version=RuleVersion.objects.get(rule=rule, version=1), requested_by="user:rita"
    ).pk
    staff("sam", "rule authors")
    forged = APIClient(enforce_csrf_checks=True)
    forged.force_login(get_user_model().objects.get(username="sam"))
    base = f"/api/v1/programs/acme/rules/{rule.pk}"
    for path, body in (
        (f"{base}/publish-requests/{rid}/approve", {}),
        (f"{base}/publish-requests/{rid}/reject", {"reason": "x"}),
        (f"{base}/publish", {}),
        (f"{base}/scenarios", {"name": "n", "event": EVENT, "expect": {"matched": False}}),
        ("/api/v1/programs/acme/tiers", {"tiers": []}),
    ):
        method = forged.put if path.endswith("tiers") else forged.post
        assert method(path, body, format="json").status_code == 403, path
    assert RulePublishRequest.objects.get(pk=rid).status == "pending"
    assert Rule.objects.get(pk=rule.pk).status == "draft"
    assert not RuleScenario.objects.exists()


def test_a_rule_keeps_at_most_a_hundred_scenarios(program, rule):
    """Every save runs the whole suite synchronously: the suite is bounded."""
    RuleScenario.objects.bulk_create(
        RuleScenario(
            rule=rule, name=f"s{i}", event=EVENT, expect={"matched": False}, created_by="t"
        )
        for i in range(100)
    )
    author = staff("rita", "rule authors")
    body = {"name": "one too many", "event": EVENT, "expect": {"matched": False}}
    response = author.post(f"/api/v1/programs/acme/rules/{rule.pk}/scenarios", body, format="json")
    assert assert_problem(response, 400)["code"] == "validation_error"
    assert RuleScenario.objects.filter(rule=rule).count() == 100


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_asking_to_publish_at_once_leave_one_pending_request(program):
    rules_config_update(
        program=program, changes={"rules_publish_requires_approval": True}, actor="test"
    )
    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:x")
    from rules.services.rules import rule_update

    rule_update(rule=rule, definition=rule_def(name="v2"), actor="user:x")
    clients = {1: keyed(program, "rita", "rule authors"), 2: keyed(program, "sam", "rule authors")}
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def ask(version):
        try:
            barrier.wait()
            statuses.append(
                clients[version]
                .post(
                    f"/api/v1/programs/acme/rules/{rule.pk}/publish",
                    {"version": version},
                    format="json",
                )
                .status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [202, 202]
    assert RulePublishRequest.objects.filter(rule=rule, status="pending").count() == 1
    assert RulePublishRequest.objects.filter(rule=rule, status="superseded").count() == 1
    assert Rule.objects.get(pk=rule.pk).status == "draft"
