"""Rule builder pages: staff only, and the data they hand the editor (issue 4, SPEC §10)."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

EXAMPLE = {
    "name": "Premium referral reward",
    "trigger": "subscription_started",
    "conditions": {
        "operator": "AND",
        "conditions": [{"field": "referrer.is_paid_user", "operator": "equals", "value": True}],
    },
    "actions": [
        {
            "type": "credit_reward",
            "params": {"amount": 50000, "currency": "INR", "reward_type": "voucher"},
        }
    ],
}
EVIL = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def staff_client(client, db):
    from django.contrib.auth.models import Group

    from tests.conftest import ensure_groups

    ensure_groups()
    user = get_user_model().objects.create_user("author", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="rule authors"))  # the API needs their permissions
    client.force_login(user)
    return client


@pytest.fixture
def rule(api, url) -> dict:
    response = api.post(url("rules"), EXAMPLE, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def config_of(response) -> dict:
    match = re.search(
        r'<script id="builder-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the editor page carries its data in a json_script block"
    return json.loads(match.group(1))


@pytest.mark.parametrize("path", ["/builder/", "/builder/acme/rules/new", "/builder/acme/rules/1"])
def test_anonymous_users_go_to_the_admin_login(client, program, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={path}"


@pytest.mark.parametrize("path", ["/builder/", "/builder/acme/rules/new"])
def test_signed_in_users_who_are_not_staff_get_403(client, program, path):
    client.force_login(get_user_model().objects.create_user("customer", password="pw"))
    assert client.get(path).status_code == 403


def test_index_lists_programs_and_their_rules(staff_client, program, rule):
    from rules.rewards.services.programs import program_create

    program_create(slug="other", name="Other program", currency="USD")
    page = staff_client.get("/builder/").content.decode()
    assert "Acme" in page and "Other program" in page
    assert 'href="/builder/acme/rules/new"' in page
    assert 'href="/builder/other/rules/new"' in page
    found = re.search(rf'<tr data-rule="{rule["id"]}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, page
    row = found.group(1)
    assert f'href="/builder/acme/rules/{rule["id"]}"' in row
    assert "Premium referral reward" in row
    assert "subscription_started" in row
    assert "Draft" in row and "v1" in row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row)
    assert "No rules yet." in page  # the other program
    assert re.search(r'<td data-label="Priority" class="num">0</td>', row)
    assert 'id="rule-query"' in page and 'type="module" src="/static/builder/index.js"' in page


def test_the_rule_list_shows_priority_and_filters_without_scripts(staff_client, program, api, url):
    ids = {}
    for name, priority in (("Gold partners", 30), ("Welcome bonus", 5)):
        body = {**EXAMPLE, "name": name, "priority": priority}
        response = api.post(url("rules"), body, format="json")
        assert response.status_code == 201
        ids[name] = response.json()["id"]
    assert (
        api.post(url(f"rules/{ids['Gold partners']}/publish"), {}, format="json").status_code == 200
    )
    page = staff_client.get("/builder/").content.decode()
    gold = re.search(rf'<tr data-rule="{ids["Gold partners"]}"[^>]*>(.*?)</tr>', page, re.S)
    assert gold and '<td data-label="Priority" class="num">30</td>' in gold.group(1)
    found = staff_client.get("/builder/?q=gold").content.decode()
    assert "Gold partners" in found and "Welcome bonus" not in found
    assert 'value="gold"' in found
    by_trigger = staff_client.get("/builder/?q=subscription_started+welcome").content.decode()
    assert "Welcome bonus" in by_trigger and "Gold partners" not in by_trigger
    assert "No rule here matches" in staff_client.get("/builder/?status=active").content.decode()
    # an unknown status is ignored, not an error
    assert "Gold partners" in staff_client.get("/builder/?status=nope").content.decode()


def test_the_editor_knows_two_person_publishing_and_who_is_looking(staff_client, program, rule):
    from rules.models import RuleProgramConfig

    config = config_of(staff_client.get(f"/builder/acme/rules/{rule['id']}"))
    assert config["requiresApproval"] is False
    assert config["actor"] == "user:author"
    assert config["canPublish"] is True
    assert config["canApprove"] is True  # rule authors approve other people's requests
    RuleProgramConfig.objects.update_or_create(
        program=program, defaults={"rules_publish_requires_approval": True}
    )
    response = staff_client.get(f"/builder/acme/rules/{rule['id']}")
    assert config_of(response)["requiresApproval"] is True
    assert ">Request publish</button>" in response.content.decode()


def test_editor_pages_carry_their_data_as_json(staff_client, program, rule):
    response = staff_client.get(f"/builder/acme/rules/{rule['id']}")
    assert response.status_code == 200
    config = config_of(response)
    assert config["program"] == "acme"
    assert config["currency"] == "INR"
    assert config["ruleId"] == rule["id"]
    assert config["apiBase"] == "/api/v1/programs/acme/"
    assert config["editorBase"] == "/builder/acme/rules/"
    assert len(config["csrfToken"]) >= 32
    page = response.content.decode()
    assert '<script src="/static/npm/%40antv/x6/dist/x6.min.js">' in page
    assert 'type="module" src="/static/builder/editor.js"' in page

    new = config_of(staff_client.get("/builder/acme/rules/new"))
    assert new["ruleId"] is None and new["program"] == "acme"


def test_the_editor_csrf_token_is_accepted_by_the_rules_api(staff_client, program, rule):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.cookies = staff_client.cookies
    token = config_of(client.get("/builder/acme/rules/new"))["csrfToken"]
    body = {"definition": EXAMPLE}
    path = "/api/v1/programs/acme/rules/validate"
    refused = client.post(path, body, content_type="application/json")
    assert refused.status_code == 403
    accepted = client.post(path, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200, accepted.content
    assert accepted.json() == {"valid": True}


def test_unknown_programs_and_other_programs_rules_are_404(staff_client, program, rule):
    from rules.rewards.services.programs import program_create

    program_create(slug="other", name="Other", currency="USD")
    assert staff_client.get("/builder/nope/rules/new").status_code == 404
    assert staff_client.get(f"/builder/other/rules/{rule['id']}").status_code == 404
    assert staff_client.get("/builder/acme/rules/999999").status_code == 404


def test_a_malicious_rule_name_is_escaped_everywhere(staff_client, program, api, url):
    response = api.post(url("rules"), {**EXAMPLE, "name": EVIL[:200]}, format="json")
    assert response.status_code == 201, response.content
    rule_id = response.json()["id"]
    for path in ("/builder/", f"/builder/acme/rules/{rule_id}"):
        page = staff_client.get(path).content.decode()
        assert EVIL not in page
        assert "<img src=x" not in page
        assert '<script>alert("x")' not in page
        assert "&lt;/script&gt;&lt;script&gt;alert(" in page


def test_the_admin_header_links_to_the_builder(staff_client):
    get_user_model().objects.filter(username="author").update(is_superuser=True)
    page = staff_client.get("/admin/").content.decode()
    assert re.search(r'<a href="/builder/" id="rule-builder-link">Rule builder</a>', page)


def test_a_viewer_without_change_rights_is_not_offered_publishing(client, program, rule):
    from django.contrib.auth.models import Permission

    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_rule"))
    client.force_login(viewer)
    config = config_of(client.get(f"/builder/acme/rules/{rule['id']}"))
    assert config["canPublish"] is False
    assert config["canApprove"] is False
    assert config["actor"] == "user:viewer"


def test_the_rule_list_marks_rules_waiting_for_a_second_person(
    staff_client, program, rule, api, url
):
    from rules.models import RuleProgramConfig

    page = staff_client.get("/builder/").content.decode()
    assert "waiting for approval" not in page
    RuleProgramConfig.objects.update_or_create(
        program=program, defaults={"rules_publish_requires_approval": True}
    )
    response = api.post(url(f"rules/{rule['id']}/publish"), {}, format="json")
    assert response.status_code == 202, response.content
    page = staff_client.get("/builder/").content.decode()
    row = re.search(rf'<tr data-rule="{rule["id"]}"[^>]*>(.*?)</tr>', page, re.S)
    assert row and "waiting for approval" in row.group(1)
