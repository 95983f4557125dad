"""The partner's tier on the portal's home page: the tier, what the next one needs and how far
the partner is, money in major units with the currency; nothing of it without tiers. On a
390-pixel phone the card does not make the page scroll sideways."""

from __future__ import annotations

import re

import pytest

from builder.portal.services import partner_account_ensure
from rules.models import Participant
from rules.services.participants import participant_upsert
from rules.tiers.services import tiers_recompute_all
from tests.browser.conftest import (  # noqa: F401  (fixtures)
    browser_context_args,
    browser_type_launch_args,
    page_errors,
)
from tests.portal.conftest import signed_in


def home(participant) -> str:
    response = signed_in(participant).get(f"/portal/{participant.program.slug}/")
    assert response.status_code == 200
    return response.content.decode()


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", html)


@pytest.mark.django_db
def test_home_shows_the_tier_and_the_way_to_the_next(program, tiers, refer, buy):
    refer("alice", "bob")
    refer("alice", "carol")
    buy("bob", 200000)
    buy("carol", 150000)
    buy("bob", 10000)
    tiers_recompute_all()
    alice = Participant.objects.get(external_id="alice")
    assert alice.tier == "silver"

    page = squeeze(home(alice))

    assert 'data-tier="silver">Silver</span>' in page
    assert "To reach <strong>Gold</strong> (counted over the last 30 days)" in page
    assert "Revenue from people you referred</span>" in page
    assert "3,600.00 INR of 5,000.00 INR" in page
    assert '<progress max="100" value="72"' in page
    assert "Purchases by people you referred</span>" in page and "3 of 3 ✓" in page
    assert "2 of 2 ✓" in page
    assert "Bronze · Silver · Gold" in page


@pytest.mark.django_db
def test_top_tier_and_no_tier_read_plainly(program, tiers, refer, buy):
    refer("alice", "bob")
    refer("alice", "carol")
    for user, amount in [("bob", 200000), ("carol", 200000), ("bob", 100000)]:
        buy(user, amount)
    tiers_recompute_all()
    page = squeeze(home(Participant.objects.get(external_id="alice")))
    assert 'data-tier="gold">Gold</span>' in page and "You are in our top tier" in page

    newcomer = participant_upsert(program=program, external_id="newbie", attributes={}, actor="t")[
        0
    ]
    page = squeeze(home(newcomer))  # not recomputed yet: no tier, the floor is next
    assert 'data-tier="">none yet</span>' in page and "To reach <strong>Bronze</strong>" in page


@pytest.mark.django_db
def test_no_tier_card_without_tiers(program, refer):
    refer("alice", "bob")
    page = home(Participant.objects.get(external_id="alice"))
    assert "Your tier" not in page and "tier-criteria" not in page


@pytest.mark.browser
def test_the_tier_card_fits_a_phone(browser, live_server, program, tiers, refer, buy, page_errors):  # noqa: F811
    from django.conf import settings
    from django.test import Client

    refer("alice-with-a-rather-long-partner-identifier", "bob")
    buy("bob", 987654321)
    tiers_recompute_all()
    alice = Participant.objects.get(external_id__startswith="alice")
    client = Client()
    client.force_login(partner_account_ensure(participant=alice).user)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.on("console", page_errors.console)
    page.on("pageerror", page_errors.page_error)
    try:
        assert page.goto(f"{live_server.url}/portal/acme/").status == 200
        page.wait_for_load_state("networkidle")
        card = page.locator("section.tier")
        assert card.get_by_role("heading").inner_text() == "Your tier: Bronze"
        assert card.locator("progress").count() == 1
        box = card.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
    finally:
        context.close()
    assert not page_errors.unexpected()
