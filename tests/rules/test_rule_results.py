"""What each rule did (issue 15 item 5): GET P/rules/{id}/results and the rule's admin page.
Matches come from the events' stored results (PostgreSQL jsonb containment, SQLite json_each);
rewards from RewardLink joined to the reward's status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from rules.models import Event
from rules.rewards.models import Reward
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = pytest.mark.django_db

DAY1 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, 0, 15, tzinfo=UTC)
NEVER = {
    "operator": "AND",
    "conditions": [{"field": "event.amount", "operator": "greater_than", "value": 10**12}],
}


@pytest.fixture
def history(publish, refer, ingest, process):
    """Rule `paying` pays alice 1.00 INR per purchase of bob's; carol has no referrer, so her
    purchase matches without a reward. Rule `idle` never matches."""
    paying = publish(
        rule_def(name="paying", trigger="purchase", conditions=ALWAYS, actions=[reward_action(100)])
    )
    idle = publish(
        rule_def(name="idle", trigger="purchase", conditions=NEVER, actions=[reward_action(100)])
    )
    refer("alice", "bob")
    for n, (user, when) in enumerate(
        [("bob", DAY1), ("bob", DAY1 + timedelta(minutes=10)), ("carol", DAY1), ("bob", DAY2)]
    ):
        event = process(ingest(f"p-{n}", "purchase", user, occurred_at=when, data={"amount": 5000}))
        assert event.status == "processed", event.error
    return paying, idle


def test_results_count_matches_and_rewards_per_day(api, url, history):
    paying, idle = history
    # Some rewards move on: their status shows in by_status.
    first = Reward.objects.order_by("pk").first()
    assert first is not None
    statuses = set(Reward.objects.values_list("status", flat=True))
    assert len(statuses) == 1
    response = api.get(url(f"rules/{paying.pk}/results?from=2026-03-01&to=2026-03-03"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["currency"] == "INR" and (body["from"], body["to"]) == ("2026-03-01", "2026-03-03")
    [status] = statuses
    assert body["totals"] == {
        "matches": 4,
        "rewards": {"count": 3, "amount": 300, "by_status": {status: {"count": 3, "amount": 300}}},
    }
    assert body["series"] == [
        {"date": "2026-03-01", "matches": 3, "rewards_count": 2, "rewards_amount": 200},
        {"date": "2026-03-02", "matches": 0, "rewards_count": 0, "rewards_amount": 0},
        {"date": "2026-03-03", "matches": 1, "rewards_count": 1, "rewards_amount": 100},
    ]
    one_day = api.get(url(f"rules/{paying.pk}/results?from=2026-03-03&to=2026-03-03")).json()
    assert one_day["totals"]["matches"] == 1 and one_day["totals"]["rewards"]["count"] == 1
    quiet = api.get(url(f"rules/{idle.pk}/results?from=2026-03-01&to=2026-03-03")).json()
    assert quiet["totals"] == {"matches": 0, "rewards": {"count": 0, "amount": 0, "by_status": {}}}
    # The idle rule was evaluated on the same purchases, and matched none.
    purchases = Event.objects.filter(type="purchase")
    assert all(
        any(r.get("rule") == idle.pk and r.get("matched") is False for r in e.results)
        for e in purchases
    )


def test_default_window_is_the_last_30_days(api, url, publish):
    rule = publish(rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(100)]))
    body = api.get(url(f"rules/{rule.pk}/results")).json()
    today = timezone.now().date()
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - timedelta(days=29)).isoformat()
    assert len(body["series"]) == 30


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-03-05&to=2026-03-01",
        "from=2026-02-30",
        "from=yesterday",
        "to=2026-03-01%00",
        "from=2020-01-01&to=2026-01-01",
        "from=0000-01-01",
        "from=9999-12-31&to=9999-12-31",
        "from=9999-12-20",
        "to=0001-01-05",
        "colour=blue",
    ],
)
def test_bad_ranges_are_400(api, url, publish, query):
    rule = publish(rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(100)]))
    response = api.get(url(f"rules/{rule.pk}/results?{query}"))
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"


def test_results_need_view_rule(api, url, client, django_user_model, publish):
    from django.contrib.auth.models import Permission

    rule = publish(rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(100)]))
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url(f"rules/{rule.pk}/results")).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_rule"))
    client.force_login(django_user_model.objects.get(pk=staff.pk))
    assert client.get(url(f"rules/{rule.pk}/results")).status_code == 200
    assert client.get(url("rules/999999/results")).status_code == 404


def test_catalog_gives_the_currency_and_its_exponent(api, url):
    body = api.get(url("rules/catalog")).json()
    assert (body["currency"], body["currency_exponent"]) == ("INR", 2)


def test_admin_rule_page_shows_results_in_major_units(
    history, client, django_user_model, monkeypatch
):
    from rules import rule_results

    paying, _ = history
    # The page shows the last 30 days: pretend today is just after the history.
    real = rule_results.results_window
    monkeypatch.setattr(
        "rules.admin.results_window",
        lambda start, end, *, today: real(start, end, today=DAY2.date() + timedelta(days=1)),
    )
    root = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(root)
    html = client.get(reverse("admin:rules_rule_change", args=[paying.pk])).content.decode()
    assert "Matched events" in html
    assert "3 · 3.00 INR" in html  # three rewards of 1.00 INR
    assert "2026-03-01" in html and "2.00 INR" in html
