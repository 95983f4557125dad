"""Two-person publishing (issue 15 item 4): with RuleProgramConfig.rules_publish_requires_approval
a publish becomes a request that someone else approves (never its requester: 403
four_eyes_violation, a key acting as its owner), or rejects; every step is audited; two
approvals at once publish once."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from config.platform.models import AuditEntry
from rules.models import Rule, RulePublishRequest, RuleVersion
from rules.services.program_config import rules_config_update
from tests.rules.conftest import SPEC_RULE, rule_def

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(program, django_user_model):
    """person(name) -> an API client whose key belongs to staff user `name`, a rule author."""
    from django.contrib.auth.models import Group

    from config.platform.api_keys import api_key_create
    from tests.conftest import ensure_groups

    def make(name: str) -> APIClient:
        ensure_groups()
        user = django_user_model.objects.filter(username=name).first()
        if user is None:
            user = django_user_model.objects.create_user(name, password="x", is_staff=True)
            user.groups.add(Group.objects.get(name="rule authors"))
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program, owner=user)[1]}"
        )
        return client

    return make


@pytest.fixture
def two_person(program):
    rules_config_update(
        program=program, changes={"rules_publish_requires_approval": True}, actor="test"
    )


def create(client, url, definition=SPEC_RULE) -> int:
    response = client.post(url("rules"), definition, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_without_the_flag_publish_is_immediate(person, url):
    rita = person("rita")
    rule_id = create(rita, url)
    response = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "active"
    assert not RulePublishRequest.objects.exists()


def test_request_then_another_person_approves(person, url, two_person):
    rita, sam = person("rita"), person("sam")
    rule_id = create(rita, url)
    asked = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json")
    assert asked.status_code == 202, asked.content
    request = asked.json()["publish_request"]
    assert (request["rule"], request["version"], request["status"]) == (rule_id, 1, "pending")
    assert request["requested_by"] == "user:rita" and request["created_at"]
    assert Rule.objects.get(pk=rule_id).status == "draft"
    listed = rita.get(url(f"rules/{rule_id}/publish-requests")).json()["results"]
    assert [r["id"] for r in listed] == [request["id"]]

    approved = sam.post(url(f"rules/{rule_id}/publish-requests/{request['id']}/approve"))
    assert approved.status_code == 200, approved.content
    assert (approved.json()["status"], approved.json()["active_version"]) == ("active", 1)
    stored = RulePublishRequest.objects.get(pk=request["id"])
    assert (stored.status, stored.decided_by) == ("approved", "user:sam")
    assert stored.decided_at is not None
    actions = list(
        AuditEntry.objects.filter(object_type="rule", object_id=str(rule_id))
        .order_by("pk")
        .values_list("action", "actor")
    )
    assert ("rule.publish_requested", "user:rita") in actions
    assert ("rule.published", "user:sam") in actions
    assert ("rule.publish_approved", "user:sam") in actions
    # Approving again: no longer pending.
    again = sam.post(url(f"rules/{rule_id}/publish-requests/{request['id']}/approve"))
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


def test_the_requester_cannot_approve_with_a_key_or_a_session(person, url, client, two_person):
    from django.contrib.auth import get_user_model

    rita = person("rita")
    rule_id = create(rita, url)
    rid = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()["publish_request"][
        "id"
    ]
    approve = url(f"rules/{rule_id}/publish-requests/{rid}/approve")
    response = rita.post(approve)
    assert (response.status_code, response.json()["code"]) == (403, "four_eyes_violation")
    assert response.json()["title"] == "Who asked to publish a rule cannot approve it"
    assert "another person must approve" in response.json()["detail"]
    # Another key of the same person is the same person; so is her session.
    response = person("rita").post(approve)
    assert (response.status_code, response.json()["code"]) == (403, "four_eyes_violation")
    client.force_login(get_user_model().objects.get(username="rita"))
    response = client.post(approve, {}, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (403, "four_eyes_violation")
    assert RulePublishRequest.objects.get(pk=rid).status == "pending"
    assert Rule.objects.get(pk=rule_id).status == "draft"
    assert not AuditEntry.objects.filter(action="rule.published").exists()


def test_the_database_refuses_a_self_approval(program, two_person):
    from rules.services.rules import rule_create

    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:rita")
    request = RulePublishRequest.objects.create(
        rule=rule, version=RuleVersion.objects.get(rule=rule), requested_by="user:rita"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        RulePublishRequest.objects.filter(pk=request.pk).update(
            status="approved", decided_by="user:rita"
        )


def test_reject_needs_a_reason_and_is_audited(person, url, two_person):
    rita, sam = person("rita"), person("sam")
    rule_id = create(rita, url)
    rid = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()["publish_request"][
        "id"
    ]
    reject = url(f"rules/{rule_id}/publish-requests/{rid}/reject")
    for body in ({}, {"reason": "  "}, {"reason": 5}, {"reason": "x" * 2001}):
        response = sam.post(reject, body, format="json")
        assert response.status_code == 400, body
    assert RulePublishRequest.objects.get(pk=rid).status == "pending"
    response = sam.post(reject, {"reason": "the amount is wrong"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["reason"]) == (
        "rejected",
        "the amount is wrong",
    )
    entry = AuditEntry.objects.get(action="rule.publish_rejected")
    assert (entry.actor, entry.reason) == ("user:sam", "the amount is wrong")
    approve = sam.post(url(f"rules/{rule_id}/publish-requests/{rid}/approve"))
    assert approve.status_code == 409
    assert Rule.objects.get(pk=rule_id).status == "draft"


def test_a_new_request_supersedes_a_pending_one_for_another_version(person, url, two_person):
    rita, sam = person("rita"), person("sam")
    rule_id = create(rita, url)
    first = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()
    same = sam.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()
    assert same["publish_request"]["id"] == first["publish_request"]["id"]  # same version
    rita.put(url(f"rules/{rule_id}"), rule_def(priority=3), format="json")
    second = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json")
    assert second.status_code == 202 and second.json()["publish_request"]["version"] == 2
    old = RulePublishRequest.objects.get(pk=first["publish_request"]["id"])
    assert old.status == "superseded" and "version 2" in old.reason
    assert AuditEntry.objects.filter(action="rule.publish_request_superseded").exists()
    stale = sam.post(url(f"rules/{rule_id}/publish-requests/{old.pk}/approve"))
    assert stale.status_code == 409
    ok = sam.post(
        url(f"rules/{rule_id}/publish-requests/{second.json()['publish_request']['id']}/approve")
    )
    assert ok.status_code == 200 and ok.json()["active_version"] == 2


def test_a_failing_scenario_blocks_the_request_and_the_approval(person, url, two_person, refer):
    rita, sam = person("rita"), person("sam")
    rule_id = create(rita, url)
    event = {"type": "subscription_started", "user": "bob"}
    rid = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()["publish_request"][
        "id"
    ]
    # A scenario added after the request fails: the approval is refused.
    added = rita.post(
        url(f"rules/{rule_id}/scenarios"),
        {"name": "always pays", "event": event, "expect": {"matched": True}},
        format="json",
    )
    assert added.status_code == 201
    refused = sam.post(url(f"rules/{rule_id}/publish-requests/{rid}/approve"))
    assert refused.status_code == 409 and refused.json()["scenarios"][0]["name"] == "always pays"
    assert RulePublishRequest.objects.get(pk=rid).status == "pending"
    assert Rule.objects.get(pk=rule_id).status == "draft"
    asked = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json")
    assert asked.status_code == 409 and asked.json()["code"] == "invalid_transition"


def test_permissions_of_publish_requests(person, url, client, django_user_model, two_person):
    from django.contrib.auth.models import Permission

    rita = person("rita")
    rule_id = create(rita, url)
    rid = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()["publish_request"][
        "id"
    ]
    viewer = django_user_model.objects.create_user("vic", password="x", is_staff=True)
    client.force_login(viewer)
    assert client.get(url(f"rules/{rule_id}/publish-requests")).status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="view_rule"))
    client.force_login(django_user_model.objects.get(pk=viewer.pk))
    assert client.get(url(f"rules/{rule_id}/publish-requests")).status_code == 200
    approve = client.post(
        url(f"rules/{rule_id}/publish-requests/{rid}/approve"), {}, content_type="application/json"
    )
    assert (approve.status_code, approve.json()["code"]) == (403, "permission_denied")
    reject = client.post(
        url(f"rules/{rule_id}/publish-requests/{rid}/reject"),
        {"reason": "no"},
        content_type="application/json",
    )
    assert reject.status_code == 403
    assert (
        client.post(
            url(f"rules/{rule_id}/publish"), {}, content_type="application/json"
        ).status_code
        == 403
    )
    assert RulePublishRequest.objects.get(pk=rid).status == "pending"
    # Another rule's request is not found under this rule.
    other = create(rita, url)
    assert (
        person("sam").post(url(f"rules/{other}/publish-requests/{rid}/approve")).status_code == 404
    )


def test_the_flag_is_a_boolean_setting(program):
    from config.platform.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        rules_config_update(
            program=program, changes={"rules_publish_requires_approval": "yes"}, actor="t"
        )
    rules_config_update(
        program=program, changes={"rules_publish_requires_approval": True}, actor="t"
    )
    entry = AuditEntry.objects.get(action="rules_config.updated")
    assert entry.after == {"rules_publish_requires_approval": True}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_publish_once(program, two_person):
    from rules.services.publishing import publish_request_approve, publish_request_create
    from rules.services.rules import rule_create
    from tests.rules.test_pipeline_concurrency import run_together

    assert connection.vendor == "postgresql"
    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:rita")
    request = publish_request_create(
        rule=rule, version=RuleVersion.objects.get(rule=rule), actor="user:rita"
    )

    def approve(actor: str):
        def run() -> str:
            try:
                publish_request_approve(publish_request=request, actor=actor)
            except Exception as exc:  # the loser: invalid_transition
                return getattr(exc, "code", repr(exc))
            return "published"

        return run

    outcomes = run_together([approve("user:sam"), approve("user:tom"), approve("user:uma")])
    assert sorted(outcomes) == ["invalid_transition", "invalid_transition", "published"]
    assert AuditEntry.objects.filter(action="rule.published").count() == 1
    assert AuditEntry.objects.filter(action="rule.publish_approved").count() == 1
    assert RulePublishRequest.objects.get(pk=request.pk).status == "approved"
    assert Rule.objects.get(pk=rule.pk).status == "active"


def test_admin_shows_publish_requests_and_scenarios_on_the_rule_page(
    program, two_person, django_user_model, client
):
    from django.urls import reverse

    from rules.models import RuleScenario
    from rules.services.publishing import publish_request_create
    from rules.services.rules import rule_create

    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:rita")
    publish_request_create(rule=rule, version=RuleVersion.objects.get(rule=rule), actor="user:rita")
    RuleScenario.objects.create(
        rule=rule,
        name="premium pays",
        event={"type": "subscription_started", "user": "bob"},
        expect={"matched": True},
        last_result={"passed": False, "version": 1, "ran_at": "x", "message": "no match"},
        created_by="user:rita",
    )
    root = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(root)
    html = client.get(reverse("admin:rules_rule_change", args=[rule.pk])).content.decode()
    assert "publish requests" in html.lower() and "user:rita" in html and "pending" in html
    assert "premium pays" in html and "version 1: failed: no match" in html
    assert "In words" in html and "₹500.00" in html  # the rule as a sentence, in rupees
    version = RuleVersion.objects.get(rule=rule)
    page = client.get(reverse("admin:rules_ruleversion_change", args=[version.pk]))
    assert "In words" in page.content.decode() and "₹500.00" in page.content.decode()


def test_admin_publish_action_makes_a_request_when_approval_is_required(
    program, two_person, django_user_model, client
):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.urls import reverse

    from rules.services.rules import rule_create

    rule = rule_create(program=program, definition=SPEC_RULE, actor="user:rita")
    root = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(root)
    response = client.post(
        reverse("admin:rules_rule_changelist"),
        {"action": "publish", ACTION_CHECKBOX_NAME: [str(rule.pk)], "confirmed": "yes"},
        follow=True,
    )
    assert "needs a second person" in response.content.decode()
    assert Rule.objects.get(pk=rule.pk).status == "draft"
    [request] = RulePublishRequest.objects.all()
    assert (request.status, request.requested_by) == ("pending", "user:root")


def test_admin_edits_the_approval_flag_audited(program, django_user_model, client):
    from django.urls import reverse

    from rules.models import RuleProgramConfig

    config = RuleProgramConfig.objects.create(program=program)
    root = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(root)
    response = client.post(
        reverse("admin:rules_ruleprogramconfig_change", args=[config.pk]),
        {
            "fraud_max_referrals_per_hour": "0",
            "fraud_match_attributes": "[]",
            "custom_catalog": "{}",
            "rules_publish_requires_approval": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    config.refresh_from_db()
    assert config.rules_publish_requires_approval is True
    entry = AuditEntry.objects.get(action="rules_config.updated")
    assert (entry.actor, entry.after) == ("user:root", {"rules_publish_requires_approval": True})


def test_a_backend_key_cannot_approve(person, url, api, two_person):
    """api clients (every backend's service identity) hold change_rule, not the approval."""
    rita = person("rita")
    rule_id = create(rita, url)
    rid = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()["publish_request"][
        "id"
    ]
    response = api.post(url(f"rules/{rule_id}/publish-requests/{rid}/approve"))
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert RulePublishRequest.objects.get(pk=rid).status == "pending"


def test_a_direct_publish_supersedes_a_pending_request(person, url, program, two_person):
    rita, sam = person("rita"), person("sam")
    rule_id = create(rita, url)
    rid = rita.post(url(f"rules/{rule_id}/publish"), {}, format="json").json()["publish_request"][
        "id"
    ]
    rules_config_update(
        program=program, changes={"rules_publish_requires_approval": False}, actor="user:root"
    )
    rita.put(url(f"rules/{rule_id}"), rule_def(priority=3), format="json")
    assert rita.post(url(f"rules/{rule_id}/publish"), {}, format="json").status_code == 200
    stale = RulePublishRequest.objects.get(pk=rid)
    assert stale.status == "superseded" and "version 2 was published" in stale.reason
    response = sam.post(url(f"rules/{rule_id}/publish-requests/{rid}/approve"))
    assert response.status_code == 409
    assert Rule.objects.get(pk=rule_id).active_version_id == (
        RuleVersion.objects.get(rule_id=rule_id, version=2).pk
    )


def test_a_rule_author_cannot_switch_two_person_publishing_off(
    program, two_person, django_user_model, client
):
    from django.contrib.auth.models import Group, Permission
    from django.urls import reverse

    from rules.models import RuleProgramConfig
    from tests.conftest import ensure_groups

    ensure_groups()
    config = RuleProgramConfig.objects.get(program=program)
    rita = django_user_model.objects.create_user("rita", password="x", is_staff=True)
    rita.groups.add(Group.objects.get(name="rule authors"))
    client.force_login(rita)
    page = reverse("admin:rules_ruleprogramconfig_change", args=[config.pk])
    form = {
        "fraud_max_referrals_per_hour": "0",
        "fraud_match_attributes": "[]",
        "custom_catalog": "{}",
        # the checkbox left out: off
    }
    client.post(page, form)
    config.refresh_from_db()
    assert config.rules_publish_requires_approval is True
    rita.user_permissions.add(Permission.objects.get(codename="switch_off_publish_approval"))
    client.force_login(django_user_model.objects.get(pk=rita.pk))
    assert client.post(page, form).status_code == 302
    config.refresh_from_db()
    assert config.rules_publish_requires_approval is False
