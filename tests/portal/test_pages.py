"""Each portal page, as a signed-in partner sees it: money in major units with the currency,
plain-words explanations, the CSV statement, masked downline, links, preferences."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from builder.portal.models import PartnerAccount
from builder.portal.wording import mask
from rules.links.models import ClickDaily
from rules.models import Participant, Referral
from rules.rewards.services.program_settings import program_update
from rules.services.participants import participant_get_or_create

pytestmark = pytest.mark.django_db


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_home(alice, alice_client, earn, pay):
    earn(alice, 5000)
    pay(alice)
    earn(alice, 12345)
    earn(alice, 700, confirm=False)
    ClickDaily.objects.create(
        program=alice.program, participant=alice, day=date.today(), clicks=7, unique_clicks=5
    )
    page = text(alice_client.get("/portal/acme/"))
    assert f"http://testserver/r/{alice.referral_code}" in page
    assert 'data-copy="referral-link"' in page and alice.referral_code in page
    assert "7.00 INR" in page  # pending
    assert "123.45 INR" in page  # available
    assert "50.00 INR" in page  # paid
    assert '"clicks": [' in page and "portal-chart-data" in page
    assert "npm/chart.js/dist/chart.umd.js" in page
    assert "<script>" not in page  # CSP: no inline script


def test_rewards_explain_in_plain_words(alice, alice_client, earn):
    program_update(program=alice.program, changes={"hold_days": 14}, actor="test")
    earn(alice, 1000)
    pending = earn(alice, 2000, confirm=False)
    held = earn(alice, 3000, confirm=False, hold="self-referral suspected: share email")
    page = text(alice_client.get("/portal/acme/rewards"))
    assert "10.00 INR" in page and "20.00 INR" in page and "30.00 INR" in page
    assert "will be in a payout" in page
    assert "wait 14 days" in page
    assert "On hold for review" in page
    assert "self-referral" not in page  # the fraud signal is the operators' business
    detail = text(alice_client.get(f"/portal/acme/rewards/{pending.pk}"))
    assert "Pending" in detail and "should be confirmed on" in detail
    assert "On hold" in text(alice_client.get(f"/portal/acme/rewards/{held.pk}"))


def test_payouts_and_statement(alice, alice_client, earn, pay):
    r1, r2 = earn(alice, 1500), earn(alice, 2500)
    item = pay(alice)
    page = text(alice_client.get("/portal/acme/payouts"))
    assert "40.00 INR" in page and "Sent" in page
    detail = text(alice_client.get(f"/portal/acme/payouts/{item.pk}"))
    assert f"/portal/acme/rewards/{r1.pk}" in detail and "15.00 INR" in detail
    response = alice_client.get(f"/portal/acme/payouts/{item.pk}/statement.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["payout", "batch", "status", "date", "amount", "currency"]
    assert rows[1][2:] == ["executed", rows[1][3], "40.00", "INR"]
    assert {(r[0], r[3]) for r in rows[4:]} == {(str(r1.pk), "15.00"), (str(r2.pk), "25.00")}


def test_no_rewards_or_payouts_yet(alice_client):
    assert "No rewards yet" in text(alice_client.get("/portal/acme/rewards"))
    assert "No payouts yet" in text(alice_client.get("/portal/acme/payouts"))


def test_downline_two_levels_masked(alice, alice_client, shop):
    def person(external_id):
        return participant_get_or_create(program=shop, external_id=external_id, actor="t")[0]

    carol, dave, erin = person("carol-1234"), person("dave-5678"), person("erin-9999")
    Referral.objects.create(program=shop, referrer=alice, referred=carol)
    Referral.objects.create(program=shop, referrer=carol, referred=dave)
    Referral.objects.create(program=shop, referrer=dave, referred=erin)  # third level: not shown
    page = text(alice_client.get("/portal/acme/downline"))
    assert mask("carol-1234") in page and mask("dave-5678") in page
    assert mask("erin-9999") not in page
    assert "carol-1234" not in page and "dave-5678" not in page
    assert "no setting to show names" in page


def test_links_list_and_create(alice, alice_client):
    page = text(alice_client.get("/portal/acme/links"))
    assert f"/r/{alice.referral_code}" in page
    response = alice_client.post(
        "/portal/acme/links", {"slug": "spring", "destination": "https://shop.example.com/sale"}
    )
    assert response.status_code == 302
    link = alice.links.get()
    assert link.slug == "spring" and link.destination == "https://shop.example.com/sale"
    page = text(alice_client.get("/portal/acme/links"))
    assert f"/r/{alice.referral_code}/spring" in page and "Created the link" in page
    assert "spring" in text(alice_client.get(f"/portal/acme/links/{link.pk}"))
    # Refusals come back as form errors, not 500s.
    again = text(alice_client.post("/portal/acme/links", {"slug": "spring"}))
    assert "spring" in again and alice.links.count() == 1
    off_site = text(
        alice_client.post("/portal/acme/links", {"slug": "x", "destination": "https://evil.com"})
    )
    assert "note bad" in off_site and alice.links.count() == 1
    bad = text(alice_client.post("/portal/acme/links", {"slug": "Not Valid"}))
    assert "lower-case letters" in bad


def test_payout_details_asks_for_a_method(alice_client):
    # Issue 14: the page sets the payout method (tests/payouts/test_payout_methods.py).
    assert "choose a method below" in text(alice_client.get("/portal/acme/payout-details"))


def test_email_preferences(alice, alice_client):
    page = text(alice_client.get("/portal/acme/preferences"))
    assert "Sign-in links are always sent" in page and "A reward is confirmed" in page
    alice_client.post(
        "/portal/acme/preferences", {"email_reward_confirmed": "on", "email_payout_failed": "on"}
    )
    account = PartnerAccount.objects.get(participant=alice)
    assert (account.email_reward_confirmed, account.email_payout_sent) == (True, False)
    assert account.email_payout_failed is True
    alice_client.post("/portal/acme/preferences", {})
    account.refresh_from_db()
    assert not any(
        (account.email_reward_confirmed, account.email_payout_sent, account.email_payout_failed)
    )


def test_pages_are_private_and_not_cached(alice_client):
    response = alice_client.get("/portal/acme/")
    assert "no-store" in response["Cache-Control"]
    assert "script-src" in response["Content-Security-Policy"]


def test_every_page_needs_a_partner(alice):
    from django.test import Client

    anonymous = Client()
    for path in ("", "rewards", "payouts", "downline", "links", "payout-details", "preferences"):
        response = anonymous.get(f"/portal/acme/{path}")
        assert response.status_code == 302 and response["Location"] == "/portal/acme/signin"
    assert Participant.objects.count() == 1
