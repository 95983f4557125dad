"""seed_demo builds a living demo and can run again without adding anything twice."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum

from config.platform.models import AuditEntry, Program
from ledger.models import Transaction
from rules.links.analytics import analytics
from rules.links.click_stats import clicks_by_day
from rules.links.models import Click, ClickDaily, Coupon, ReferralLink
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


def test_seed_demo_links_clicks_and_attribution(capsys):
    """Links with 60 days of clicks (bots and returning visitors among them), rolled up for the
    dashboard and the portal, and conversions attributed by click id and coupon beside ones
    that were not (an expired click, an unknown click id, an unknown coupon)."""
    call_command("seed_demo")
    assert "portal_signin_link demo alice" in capsys.readouterr().out
    program = Program.objects.get(slug="demo")
    assert program.landing_url and program.allowed_domains
    alice = Participant.objects.get(program=program, external_id="alice")
    assert ReferralLink.objects.filter(participant=alice, slug="newsletter").exists()
    assert Coupon.objects.filter(program=program, participant=alice).exists()

    clicks = Click.objects.filter(program=program)
    today = datetime.now(UTC).date()
    days = {at.astimezone(UTC).date() for at in clicks.values_list("at", flat=True)}
    assert min(days) == today - timedelta(days=59) and max(days) <= today
    assert len(days) >= 50  # spread over the 60 days, not bunched
    assert clicks.filter(is_bot=True).exists() and clicks.filter(is_bot=False).exists()
    assert clicks.filter(link__isnull=False).exists() and clicks.filter(link=None).exists()
    per_visitor = clicks.values("visitor_hash").annotate(n=Count("id"))
    assert per_visitor.filter(n__gt=1).exists()  # returning visitors
    # Rolled up: the roll-ups hold every click the raw table has.
    rolled = ClickDaily.objects.filter(program=program).aggregate(
        c=Sum("clicks"), b=Sum("bot_clicks")
    )
    assert rolled["c"] == clicks.filter(is_bot=False).count()
    assert rolled["b"] == clicks.filter(is_bot=True).count()
    assert sum(clicks_by_day(participant=alice, since=today - timedelta(days=59)).values()) > 0
    whole = analytics(program=program, start=today - timedelta(days=59), end=today)
    assert whole.totals.clicks == rolled["c"]

    results: dict[str, dict[str, Any]] = {
        e.event_id: e.attribution or {}
        for e in Event.objects.filter(program=program).filter(attribution__isnull=False)
    }
    attributed = [a for a in results.values() if a["status"] == "attributed"]
    assert {a["referrer"] for a in attributed} >= {"alice", "bob"}
    assert any("click_id" in a for a in attributed) and any("coupon" in a for a in attributed)
    assert {a["status"] for a in results.values()} >= {"attributed", "expired", "unknown"}
    assert all(a["reason"] for a in results.values())
    # The attributed purchases earned the partners their commission.
    assert Referral.objects.filter(program=program, referrer=alice).count() >= 5
    statuses = set(
        Reward.objects.filter(program=program, beneficiary="alice").values_list("status", flat=True)
    )
    assert {"pending", "confirmed"} <= statuses
    assert set(Reward.objects.filter(program=program).values_list("status", flat=True)) >= {
        "pending",
        "confirmed",
        "reversed",
    }

    before = {
        "clicks": clicks.count(),
        "rollups": ClickDaily.objects.count(),
        "links": ReferralLink.objects.count(),
        "events": Event.objects.count(),
        "rewards": Reward.objects.count(),
    }
    call_command("seed_demo")
    assert before == {
        "clicks": clicks.count(),
        "rollups": ClickDaily.objects.count(),
        "links": ReferralLink.objects.count(),
        "events": Event.objects.count(),
        "rewards": Reward.objects.count(),
    }


def test_demo_partner_signs_in_with_the_printed_link(client, settings):
    """What `make run` prints after seed_demo: alice's portal sign-in link, which signs her in
    to the portal's home page."""
    settings.DEBUG = True
    call_command("seed_demo")
    out = io.StringIO()
    call_command("portal_signin_link", "demo", "alice", stdout=out)
    link = re.search(r"https?://\S+", out.getvalue())
    assert link is not None
    url = urlsplit(link.group(0))
    assert url.path == "/portal/demo/signin/link"
    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200
    token = parse_qs(url.query)["sesame"][0]
    signed_in = client.post(url.path, {"sesame": token})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/portal/demo/"
    home = client.get("/portal/demo/")
    assert home.status_code == 200
    assert client.session["_auth_user_id"]
    alice = Participant.objects.get(program__slug="demo", external_id="alice")
    assert alice.referral_code in home.content.decode()
