"""seed_demo builds a living demo and can run again without adding anything twice."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from config.platform.models import AuditEntry
from ledger.models import Transaction
from rules.models import Event, Participant, Referral, Rule
from rules.rewards.models import Reward

pytestmark = pytest.mark.django_db(transaction=True)


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Participant, Referral, Rule, Event, Reward, Transaction, AuditEntry)
    }


def test_seed_demo_twice(capsys):
    call_command("seed_demo")
    first = counts()
    assert first["Participant"] >= 6 and first["Referral"] >= 5
    assert Rule.objects.filter(status="active").count() >= 3
    assert set(Event.objects.values_list("status", flat=True)) == {"processed"}
    assert Reward.objects.filter(status="pending").exists()
    assert Reward.objects.filter(status="reversed").exists()  # the demo refund
    spec_rule = Rule.objects.get(name="Premium referral reward")
    assert spec_rule.active_version is not None
    assert spec_rule.active_version.definition["trigger"] == "subscription_started"
    commission = Rule.objects.get(name="Two-level purchase commission")
    paid_by = set(
        Reward.objects.filter(rule_link__rule=commission).values_list("beneficiary", flat=True)
    )
    assert {"alice", "bob"} <= paid_by  # direct and parent override
    call_command("seed_demo")
    assert counts() == first


def test_demo_superuser_only_in_debug_or_on_request(settings, capsys):
    """A known demo/demo login must not appear on a production deployment."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    settings.DEBUG = False
    call_command("seed_demo")
    assert not User.objects.filter(username="demo").exists()
    assert "createsuperuser" in capsys.readouterr().out
    call_command("seed_demo", "--demo-user")
    assert User.objects.get(username="demo").is_superuser
    User.objects.all().delete()
    settings.DEBUG = True
    call_command("seed_demo")
    assert User.objects.filter(username="demo").exists()
