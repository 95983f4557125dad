"""GET P/analytics and its selector (SPEC section 11): the numbers match a plain-Python count
over random data, intervals bucket on UTC days, ISO weeks and months, bad queries are 400, and
another program's data is out of reach."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from config.platform.api_keys import api_key_create
from rules.links.analytics import REWARD_STATUSES, analytics
from rules.rewards.services.programs import program_create
from tests.analytics import helpers

pytestmark = pytest.mark.django_db

BASE = datetime(2025, 12, 20, tzinfo=UTC)  # a Saturday, before a month's and a year's end
SPAN = 60 * 86400  # seconds of data after BASE
PARTNERS, USERS = 3, 6


def _key(day: date, interval: str):
    """A bucket's identity, computed unlike the selector does it."""
    if interval == "week":
        return day.isocalendar()[:2]
    if interval == "month":
        return (day.year, day.month)
    return day


def _at(seconds: int) -> datetime:
    return BASE + timedelta(seconds=seconds)


clicks_st = st.dictionaries(
    st.tuples(st.integers(0, PARTNERS - 1), st.integers(0, 59)),
    st.integers(0, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
    max_size=25,
)
referrals_st = st.dictionaries(
    st.integers(0, USERS - 1),
    st.tuples(st.integers(0, PARTNERS - 1), st.integers(0, SPAN)),
    max_size=USERS,
)
reward_st = st.tuples(
    st.integers(0, PARTNERS - 1),
    st.integers(1, 10**9),
    st.sampled_from(REWARD_STATUSES),
    st.integers(0, SPAN),
)
conversions_st = st.lists(
    st.tuples(st.integers(0, USERS - 1), st.integers(0, SPAN), st.lists(reward_st, max_size=2)),
    max_size=8,
)
query_st = st.tuples(
    st.integers(-5, 59),  # the range's first day after BASE's
    st.integers(0, 70),  # its length - 1
    st.sampled_from(["day", "week", "month"]),
    st.one_of(st.none(), st.integers(0, PARTNERS - 1)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(clicks_st, referrals_st, conversions_st, query_st)
def test_the_numbers_match_a_plain_count(program, clicks, referrals, conversions, query):
    with transaction.atomic():
        _check(program, clicks, referrals, conversions, query)
        transaction.set_rollback(True)


def _check(program, clicks, referrals, conversions, query):
    partners = helpers.participants(program, PARTNERS, "p")
    users = helpers.participants(program, USERS, "u")
    version = helpers.rule_version(program)
    for (p, d), (n, u) in clicks.items():
        helpers.clicks(program, partners[p], BASE.date() + timedelta(days=d), n, u)
    for u, (p, s) in referrals.items():
        helpers.referral(program, partners[p], users[u], _at(s))
    for u, s, rewards in conversions:
        helpers.conversion(
            program,
            version,
            users[u],
            _at(s),
            [(f"p{b}", amount, status, _at(c)) for b, amount, status, c in rewards],
        )

    first, length, interval, who = query
    start = BASE.date() + timedelta(days=first)
    end = start + timedelta(days=length)
    partner = None if who is None else partners[who]
    result = analytics(
        program=program, start=start, end=end, interval=interval, participant=partner
    )

    expected: dict = defaultdict(lambda: defaultdict(int))

    def add(day: date, field: str, n: int = 1) -> None:
        if start <= day <= end and n:
            expected[_key(day, interval)][field] += n
            expected["total"][field] += n

    for (p, d), (n, u) in clicks.items():
        if who in (None, p):
            add(BASE.date() + timedelta(days=d), "clicks", n)
            add(BASE.date() + timedelta(days=d), "unique_clicks", u)
    for p, s in referrals.values():
        if who in (None, p):
            add(_at(s).date(), "referrals")
    for _u, s, rewards in conversions:
        mine = [r for r in rewards if who in (None, r[0])]
        if mine:
            add(_at(s).date(), "conversions")
        for _b, amount, status, c in mine:
            add(_at(c).date(), f"{status}.count")
            add(_at(c).date(), f"{status}.amount", amount)

    def observed(bucket) -> dict:
        got = {
            "clicks": bucket.clicks,
            "unique_clicks": bucket.unique_clicks,
            "referrals": bucket.referrals,
            "conversions": bucket.conversions,
        }
        for status, tally in bucket.rewards.items():
            got[f"{status}.count"] = tally["count"]
            got[f"{status}.amount"] = tally["amount"]
        return {k: v for k, v in got.items() if v}

    # The buckets tile the range, in order, one per day, ISO week or month.
    assert result.buckets[0].start == start and result.buckets[-1].end == end
    for before, after in zip(result.buckets, result.buckets[1:], strict=False):
        assert after.start == before.end + timedelta(days=1)
        assert _key(before.end, interval) != _key(after.start, interval)
    for bucket in result.buckets:
        assert _key(bucket.start, interval) == _key(bucket.end, interval)
        assert observed(bucket) == dict(expected.get(_key(bucket.start, interval), {}))
    assert observed(result.totals) == dict(expected.get("total", {}))
    t = result.totals
    assert result.funnel["click_to_referral"] == (
        round(t.referrals / t.clicks, 4) if t.clicks else None
    )


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def data(program):
    partners = helpers.participants(program, 2, "p")
    users = helpers.participants(program, 3, "u")
    version = helpers.rule_version(program)
    helpers.clicks(program, partners[0], date(2026, 3, 1), 10, 7)
    helpers.clicks(program, partners[0], date(2026, 3, 2), 5, 5)
    helpers.clicks(program, partners[1], date(2026, 3, 2), 4, 2)
    last_second = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    helpers.referral(program, partners[0], users[0], last_second)
    helpers.referral(program, partners[0], users[1], midnight)
    helpers.referral(program, partners[1], users[2], midnight)
    helpers.conversion(
        program,
        version,
        users[0],
        last_second,
        [("p0", 5000, "confirmed", last_second), ("u0", 1000, "pending", last_second)],
    )
    helpers.conversion(program, version, users[2], midnight, [("p1", 2500, "paid", midnight)])
    return partners


def test_by_week_sunday_and_monday_fall_in_two_weeks(api, url, data):
    r = api.get(url("analytics"), {"from": "2026-03-01", "to": "2026-03-16", "interval": "week"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["from"] == "2026-03-01" and body["to"] == "2026-03-16"
    assert (body["program"], body["participant"], body["currency"]) == ("acme", None, "INR")
    assert body["time_zone"] == "UTC" and body["interval"] == "week"
    assert [(b["start"], b["end"]) for b in body["intervals"]] == [
        ("2026-03-01", "2026-03-01"),  # a Sunday: the end of its ISO week
        ("2026-03-02", "2026-03-08"),
        ("2026-03-09", "2026-03-15"),
        ("2026-03-16", "2026-03-16"),
    ]
    sunday, monday = body["intervals"][:2]
    assert (sunday["clicks"], sunday["unique_clicks"], sunday["referrals"]) == (10, 7, 1)
    assert sunday["conversions"] == 1
    assert sunday["rewards"]["count"] == 2 and sunday["rewards"]["amount"] == 6000
    assert sunday["rewards"]["by_status"]["confirmed"] == {"count": 1, "amount": 5000}
    assert sunday["rewards"]["by_status"]["pending"] == {"count": 1, "amount": 1000}
    assert (monday["clicks"], monday["referrals"], monday["conversions"]) == (9, 2, 1)
    assert monday["rewards"]["by_status"]["paid"] == {"count": 1, "amount": 2500}
    totals = body["totals"]
    assert (totals["clicks"], totals["unique_clicks"], totals["referrals"]) == (19, 14, 3)
    assert (totals["conversions"], totals["rewards"]["count"]) == (2, 3)
    assert totals["rewards"]["amount"] == 8500
    assert body["funnel"] == {
        "click_to_referral": round(3 / 19, 4),
        "referral_to_conversion": round(2 / 3, 4),
        "conversion_to_reward": 1.5,
    }


def test_by_month_and_by_day(api, url, data):
    r = api.get(url("analytics"), {"from": "2026-01-15", "to": "2026-03-10", "interval": "month"})
    assert [(b["start"], b["end"]) for b in r.json()["intervals"]] == [
        ("2026-01-15", "2026-01-31"),
        ("2026-02-01", "2026-02-28"),
        ("2026-03-01", "2026-03-10"),
    ]
    assert r.json()["intervals"][2]["referrals"] == 3
    r = api.get(url("analytics"), {"from": "2026-03-01", "to": "2026-03-02"})
    assert r.json()["interval"] == "day"
    assert [b["referrals"] for b in r.json()["intervals"]] == [1, 2]


def test_a_partners_funnel(api, url, data):
    r = api.get(url("analytics"), {"from": "2026-03-01", "to": "2026-03-02", "participant": "p0"})
    assert r.status_code == 200
    totals = r.json()["totals"]
    assert r.json()["participant"] == "p0"
    assert (totals["clicks"], totals["referrals"], totals["conversions"]) == (15, 2, 1)
    assert totals["rewards"]["count"] == 1 and totals["rewards"]["amount"] == 5000


def test_no_data_gives_zeros_and_null_ratios(api, url, program):
    r = api.get(url("analytics"), {"from": "2026-03-01", "to": "2026-03-03"})
    assert r.status_code == 200
    assert len(r.json()["intervals"]) == 3
    assert r.json()["totals"]["clicks"] == 0
    assert set(r.json()["funnel"].values()) == {None}


def test_defaults_are_the_last_30_days(api, url, program):
    body = api.get(url("analytics")).json()
    today = datetime.now(UTC).date()
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - timedelta(days=29)).isoformat()
    assert len(body["intervals"]) == 30


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-03-01T00:00:00Z"}, "from"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"interval": "year"}, "interval"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),  # 732 days by day
        ({"from": "1969-12-31", "to": "1970-01-01"}, "from"),
        ({"from": "9999-12-30", "to": "9999-12-31", "interval": "month"}, "from"),
    ],
)
def test_bad_queries_are_400(api, url, program, query, field):
    r = api.get(url("analytics"), query)
    assert r.status_code == 400, r.content
    assert r["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "validation_error"
    assert field in {e.get("field") for e in r.json()["errors"]}


def test_longer_ranges_by_week_and_month(api, url, program):
    query = {"from": "2024-01-01", "to": "2026-01-01"}
    assert api.get(url("analytics"), {**query, "interval": "week"}).status_code == 200
    r = api.get(url("analytics"), {"from": "2016-01-02", "to": "2026-01-01", "interval": "month"})
    assert r.status_code == 200 and len(r.json()["intervals"]) == 121


def test_unknown_participant_is_404(api, url, program):
    r = api.get(url("analytics"), {"participant": "nobody"})
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


def test_another_programs_data_is_out_of_reach(api, url, data):
    other, _ = program_create(slug="other", name="Other", currency="USD")
    stranger = helpers.participants(other, 1, "s")[0]
    helpers.clicks(other, stranger, date(2026, 3, 1), 1000, 900)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=other)[1]}")
    # Acme's key on the other program's path, and the other program's participant: 404.
    assert api.get(url("analytics", slug="other")).status_code == 404
    r = api.get(url("analytics"), {"participant": "s0"})
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    # Each program counts its own clicks only.
    query = {"from": "2026-03-01", "to": "2026-03-02"}
    assert api.get(url("analytics"), query).json()["totals"]["clicks"] == 19
    body = client.get(url("analytics", slug="other"), query).json()
    assert (body["totals"]["clicks"], body["currency"]) == (1000, "USD")


@pytest.mark.parametrize(
    ("group", "status"),
    [("operators", 200), ("api clients", 200), ("rule authors", 403), ("approvers", 403)],
)
def test_who_may_read_it(url, program, group, status):
    user = get_user_model().objects.create_user(username="someone", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = APIClient()
    client.force_login(user)
    r = client.get(url("analytics"))
    assert r.status_code == status
    if status == 403:
        assert "rules.view_clickdaily" in r.json()["detail"]


# --- the console's page ----------------------------------------------------------------------


def _staff(*groups: str, superuser: bool = False):
    from django.test import Client

    user = get_user_model().objects.create_user(
        username="oscar", password="pw", is_staff=True, is_superuser=superuser
    )
    user.groups.add(*Group.objects.filter(name__in=groups))
    client = Client()
    client.force_login(user)
    return client


PAGE = "/admin/rules/clickdaily/analytics/"


def test_the_console_page_draws_the_funnel(program, data):
    client = _staff("operators")
    r = client.get(PAGE, {"program": "acme", "start": "2026-03-01", "end": "2026-03-02"})
    assert r.status_code == 200
    html = r.content.decode()
    chart = r.context["chart"]
    assert chart["labels"] == ["2026-03-01", "2026-03-02"]
    assert chart["clicks"] == [10, 9] and chart["referrals"] == [1, 2]
    assert chart["conversions"] == [1, 1] and chart["rewards"] == [2, 1]
    assert chart["amount"] == [6000, 2500] and chart["exponent"] == 2
    assert 'id="analytics-data" type="application/json"' in html
    assert "admin_dashboard/analytics.js" in html and "npm/chart.js/dist/chart.umd.js" in html
    assert "<script>" not in html  # the CSP allows no inline script
    assert "85.00 INR" in html and "50.00 INR" in html  # all rewards, the confirmed ones


def test_the_console_page_for_one_partner_and_its_errors(program, data):
    client = _staff("operators")
    query = {"program": "acme", "start": "2026-03-01", "end": "2026-03-02", "participant": "p1"}
    r = client.get(PAGE, query)
    assert r.context["chart"]["clicks"] == [0, 4]
    assert "partner p1" in r.content.decode()
    r = client.get(PAGE, {**query, "participant": "nobody"})
    assert r.status_code == 200 and "result" not in r.context
    assert "No such participant" in r.content.decode()
    r = client.get(PAGE, {**query, "start": "2026-03-05"})
    assert "result" not in r.context and "must not be after" in r.content.decode()


def test_the_console_page_defaults_and_links(program):
    client = _staff(superuser=True)
    r = client.get(PAGE)
    assert r.status_code == 200 and len(r.context["chart"]["labels"]) == 30
    assert PAGE in client.get("/admin/").content.decode()


def test_the_console_page_needs_the_clicks_view_permission(program):
    assert _staff("rule authors").get(PAGE).status_code == 403
