"""The partner portal on a 390-pixel-wide phone: no page scrolls sideways, the chart draws,
the copy button copies, the policy reports nothing; the home page's screenshot is
docs/portal-phone.png."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from builder.portal.services import partner_account_ensure
from rules.links.models import ClickDaily
from rules.links.services.links import referral_link_create
from rules.models import Referral
from rules.rewards.services.program_settings import program_update
from rules.rewards.services.rewards import reward_confirm, reward_create
from rules.services.participants import participant_upsert

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "portal-phone.png"
PHONE = {"width": 390, "height": 844}
PAGES = ["", "rewards", "payouts", "downline", "links", "payout-details", "preferences"]


@pytest.fixture
def partner(program):
    program = program_update(
        program=program,
        changes={
            "landing_url": "https://shop.example.com/welcome",
            "allowed_domains": ["example.com"],
            "hold_days": 14,
        },
        actor="test",
    )
    alice = participant_upsert(
        program=program,
        external_id="alice",
        attributes={"email": "alice@example.com", "name": "Alice"},
        actor="test",
    )[0]
    today = timezone.now().date()
    for n in range(30):
        ClickDaily.objects.create(
            program=program,
            participant=alice,
            day=today - timedelta(days=n),
            clicks=(n * 7) % 23 + 2,
            unique_clicks=(n * 7) % 23 + 1,
        )
    for n in range(6):
        friend = participant_upsert(
            program=program, external_id=f"friend-{n:03d}", attributes={}, actor="test"
        )[0]
        Referral.objects.create(
            program=program,
            referrer=alice,
            referred=friend,
            created_at=timezone.now() - timedelta(days=4 * n),
        )
        reward, _ = reward_create(
            program=program,
            beneficiary="alice",
            amount=150000 + n * 2500,
            currency=program.currency,
            reward_type="cash",
            source_key=f"phone:{n}",
            hold_reason="manual check" if n == 5 else "",
            actor="test",
        )
        if n < 3:
            reward_confirm(reward=reward, actor="test")
    referral_link_create(
        participant=alice,
        slug="spring-newsletter-campaign-2026-long-one",
        destination="https://shop.example.com/some/very/long/path/that/could/overflow",
        actor="test",
    )
    return alice


@pytest.fixture
def phone(browser, live_server, partner, page_errors):
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(partner_account_ensure(participant=partner).user)
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, reduced_motion="reduce"
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
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
    page.set_default_timeout(15_000)
    yield page
    context.close()
    unexpected = page_errors.unexpected()
    assert not unexpected, "errors in the browser:\n" + "\n".join(unexpected)


def overflow(page) -> int:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def test_home_on_a_phone(phone, live_server, partner):
    response = phone.goto(f"{live_server.url}/portal/acme/")
    assert response.status == 200
    phone.wait_for_load_state("networkidle")
    # Chart.js drew: the canvas has pixels of its own size.
    assert phone.evaluate("document.getElementById('portal-chart').width") > 0
    assert phone.evaluate("!!window.Chart && Object.keys(Chart.instances).length") == 1
    assert overflow(phone) <= 0
    phone.get_by_role("button", name="Copy link").click()
    phone.wait_for_function("document.querySelector('.copied').textContent.startsWith('Copied')")
    copied = phone.evaluate("navigator.clipboard.readText()")
    assert copied.endswith(f"/r/{partner.referral_code}")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    phone.screenshot(path=str(SCREENSHOT), full_page=True)


@pytest.mark.parametrize("path", PAGES)
def test_no_page_scrolls_sideways(phone, live_server, path):
    response = phone.goto(f"{live_server.url}/portal/acme/{path}")
    assert response.status == 200
    phone.wait_for_load_state("networkidle")
    assert overflow(phone) <= 0, path


def test_sign_in_by_email_link_on_a_phone(browser, live_server, partner, page_errors):
    """The whole sign-in on the phone: the form, the emailed link, its button, the home page;
    the same link a second time is refused."""
    from django.core import mail

    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.on("console", page_errors.console)
    page.on("pageerror", page_errors.page_error)
    page_errors.allow(r"status of 400")  # the used link's page answers 400, as it should
    page.goto(f"{live_server.url}/portal/acme/signin")
    page.get_by_label("Your email address").fill("alice@example.com")
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    assert overflow(page) <= 0
    [message] = mail.outbox
    link = next(word for word in message.body.split() if "/signin/link?sesame=" in word)
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Your partner page").wait_for()
    assert partner.referral_code in page.content()
    second = context.new_page()
    second.goto(link)
    second.get_by_role("button", name="Sign in").click()
    second.get_by_role("heading", name="This link no longer works").wait_for()
    context.close()
    unexpected = page_errors.unexpected()
    assert not unexpected, "errors in the browser:\n" + "\n".join(unexpected)
