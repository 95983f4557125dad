"""The rules admin (rules/admin/): publishing asks for confirmation and says what a rule
will pay, in major units (issue 11, item 8); the rules settings (fraud velocity, match
attributes) change through their audited service (item 6)."""

from __future__ import annotations

import copy

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from config.platform.models import AuditEntry
from rules.models import Rule, RuleProgramConfig
from rules.services.program_config import rules_config_update
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.spec_examples import SPEC_EXAMPLE_RULE

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule_groups(groups):
    """The rules app's grants to the console's groups (rules 0002), re-applied like `groups`:
    a transactional test elsewhere in the session may have flushed them."""
    import importlib

    from django.apps import apps

    importlib.import_module("rules.migrations.0002_group_permissions").grant(apps, None)


@pytest.fixture
def root(staff):
    return staff("root", superuser=True)


@pytest.fixture
def alice(staff):
    return staff("alice", "operators")


def _entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("pk"))


def test_rule_publish_asks_first_and_says_what_it_pays(staff, rule_groups, program):
    from rules.services.rules import rule_create

    author = staff("rita", "rule authors")
    definition = copy.deepcopy(SPEC_EXAMPLE_RULE)
    definition["limits"] = {"budget": {"max_amount": 10000000}}
    rule = rule_create(program=program, definition=definition, actor="test")
    url = reverse("admin:rules_rule_changelist")
    picked = {"action": "publish", ACTION_CHECKBOX_NAME: [str(rule.pk)]}

    html = author.post(url, picked).content.decode()
    assert "the referrer: 500.00 INR (voucher) per event" in html
    assert "budget: at most 100,000.00 INR in all" in html
    assert 'name="confirmed" value="yes"' in html
    rule.refresh_from_db()
    assert rule.status == "draft"

    r = author.post(url, {**picked, "confirmed": "yes"})
    assert r.status_code == 302
    rule.refresh_from_db()
    assert rule.status == "active"
    assert AuditEntry.objects.filter(action="rule.published", actor="user:rita").exists()


def test_only_rule_authors_may_publish(rule_groups, alice, program):
    from rules.services.rules import rule_create

    rule = rule_create(program=program, definition=copy.deepcopy(SPEC_EXAMPLE_RULE), actor="t")
    alice.post(
        reverse("admin:rules_rule_changelist"),
        {"action": "publish", ACTION_CHECKBOX_NAME: [str(rule.pk)], "confirmed": "yes"},
    )
    assert Rule.objects.get(pk=rule.pk).status == "draft"


def test_fraud_settings_changed_in_the_admin_are_audited(root, program):
    config = RuleProgramConfig.objects.create(program=program)
    url = reverse("admin:rules_ruleprogramconfig_change", args=[config.pk])
    r = root.post(
        url,
        {
            "fraud_max_referrals_per_hour": "5",
            "fraud_match_attributes": '["email", "phone"]',
            "custom_catalog": "{}",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    config.refresh_from_db()
    assert config.fraud_max_referrals_per_hour == 5
    (entry,) = _entries(action="rules_config.updated")
    assert (entry.actor, entry.object_type, entry.object_id) == (
        "user:root",
        "rules_config",
        "acme",
    )
    assert entry.program_id == program.pk
    assert entry.before == {"fraud_max_referrals_per_hour": 0, "fraud_match_attributes": []}
    assert entry.after == {
        "fraud_max_referrals_per_hour": 5,
        "fraud_match_attributes": ["email", "phone"],
    }


def test_bad_fraud_settings_change_nothing(root, program):
    config = RuleProgramConfig.objects.create(program=program)
    url = reverse("admin:rules_ruleprogramconfig_change", args=[config.pk])
    r = root.post(
        url,
        {
            "fraud_max_referrals_per_hour": "5",
            "fraud_match_attributes": '["email", 7]',
            "custom_catalog": "{}",
        },
    )
    assert r.status_code == 200
    config.refresh_from_db()
    assert config.fraud_max_referrals_per_hour == 0
    assert not _entries(action="rules_config.updated")


def test_rules_settings_service_audits_only_what_changed(program):
    rules_config_update(
        program=program, changes={"fraud_max_referrals_per_hour": 3}, actor="user:ops"
    )
    rules_config_update(  # the same value again: nothing changes, nothing is recorded
        program=program, changes={"fraud_max_referrals_per_hour": 3}, actor="user:ops"
    )
    rules_config_update(
        program=program,
        changes={"fraud_match_attributes": ["device_id"]},
        actor="user:ops",
        reason="devices are shared in this market",
    )
    first, second = _entries(action="rules_config.updated")
    assert first.after == {"fraud_max_referrals_per_hour": 3}
    assert second.before == {"fraud_match_attributes": []}
    assert second.reason == "devices are shared in this market"
