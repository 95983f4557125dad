"""A partner's whole journey in Chromium (issue 13's browser test), every email through a real
SMTP server (aiosmtpd): the sign-in link taken from the server's mailbox → the portal's home →
the referral link from the copy button → a visitor's click in another browser context (the
redirect carries `click_id`) → the company's purchase event with that click id over the API →
the pending reward on the partner's rewards page → the company confirms it → the
reward-confirmed email arrives, and its link opens the rewards page showing it confirmed."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError

from builder.portal.tasks import email_inline_wait
from rules.links.models import Click
from rules.models import Referral
from rules.rewards.models import Reward
from rules.rewards.services.program_settings import program_update
from rules.services.participants import participant_upsert
from rules.services.rules import rule_create, rule_publish
from tests.portal.smtp import SmtpServer, html_of, text_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOP = "https://shop.example.com"
COMMISSION = {
    "name": "10% of every purchase",
    "trigger": "purchase",
    "priority": 0,
    "stop_processing": False,
    "conditions": {"operator": "AND", "conditions": []},
    "actions": [
        {
            "type": "percent_commission",
            "params": {
                "beneficiary": "referrer",
                "rate_bps": 1000,
                "of": "event.amount",
                "reward_type": "cash",
            },
        }
    ],
}


@pytest.fixture
def shop(program, settings):
    settings.CELERY_BROKER_URL = ""  # no broker: events and emails are handled in-process
    program = program_update(
        program=program,
        changes={
            "landing_url": f"{SHOP}/welcome",
            "allowed_domains": ["shop.example.com"],
            "hold_days": 14,
        },
        actor="test",
    )
    rule_publish(
        rule=rule_create(program=program, definition=COMMISSION, actor="test"), actor="test"
    )
    participant_upsert(
        program=program,
        external_id="alice",
        attributes={"email": "alice@example.com", "name": "Alice"},
        actor="test",
    )
    return program


@pytest.fixture
def smtp(live_server):
    server = SmtpServer()
    server.start()
    with server.settings(PORTAL_BASE_URL=live_server.url):
        yield server
    server.stop()


def watched(context, page_errors):
    page = context.new_page()
    page.on("console", page_errors.console)
    page.on("pageerror", page_errors.page_error)
    page.set_default_timeout(15_000)
    return page


def test_partner_journey(browser, live_server, shop, smtp, api_key, page_errors):
    partner = browser.new_context(viewport={"width": 1280, "height": 900})
    partner.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = watched(partner, page_errors)

    # 1. Sign in with the link the SMTP server received.
    page.goto(f"{live_server.url}/portal/acme/signin")
    page.get_by_label("Your email address").fill("alice@example.com")
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    [signin] = smtp.received(1)
    assert signin["To"] == "alice@example.com"
    found = re.search(r"\S+/portal/acme/signin/link\?sesame=\S+", text_of(signin))
    assert found, text_of(signin)
    page.goto(found.group(0))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Your partner page").wait_for()

    # 2. Copy the referral link with the page's button.
    page.get_by_role("button", name="Copy link").click()
    page.wait_for_function("document.querySelector('.copied').textContent.startsWith('Copied')")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == page.locator("#referral-link").input_value()
    assert link.startswith(live_server.url) and "/r/" in link

    # 3. A visitor opens it in another browser (no shared cookies). The shop's site is not
    # reachable from a test (no internet): what counts is where the redirect sends the browser.
    visitor = browser.new_context()
    visit = watched(visitor, page_errors)
    with visit.expect_request(lambda request: request.url.startswith(SHOP)) as landing:
        try:
            visit.goto(link)
        except PlaywrightError as error:
            assert "ERR_NAME_NOT_RESOLVED" in str(error)
    assert landing.value.redirected_from is not None
    assert landing.value.redirected_from.url == link
    landed = urlsplit(landing.value.url)
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == f"{SHOP}/welcome"
    query = parse_qs(landed.query)
    [click_id] = query["click_id"]
    assert query["ref"] == [link.rsplit("/", 1)[1]]
    click = Click.objects.get(pk=click_id)
    assert click.participant.external_id == "alice"
    assert any(c["name"] == "rl_click" and c["value"] == click_id for c in visitor.cookies())

    # 4. The company's backend reports the visitor's purchase with the click id.
    api = httpx.Client(
        base_url=f"{live_server.url}/api/v1/programs/acme/",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    answer = api.post(
        "events",
        json={
            "id": "order-1001",
            "type": "purchase",
            "user": "bob",
            "data": {"amount": 123450},
            "click_id": click_id,
        },
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["attribution"]["status"] == "attributed"
    assert Referral.objects.get(referred__external_id="bob").referrer.external_id == "alice"
    reward = Reward.objects.get(beneficiary="alice")
    assert (reward.amount, reward.status) == (12345, "pending")

    # 5. The partner sees it pending, with why, in major units.
    page.goto(f"{live_server.url}/portal/acme/rewards")
    card = page.locator("li.card").filter(has_text="123.45 INR")
    assert "Pending" in card.inner_text()
    assert "wait 14 days" in page.content()

    # 6. The company confirms it early; the partner is emailed.
    confirmed = api.post(f"rewards/{reward.pk}/confirm", json={"reason": "order shipped"})
    assert confirmed.status_code == 200, confirmed.text
    assert email_inline_wait(timeout=30)
    message = smtp.received(2)[1]
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Acme: your reward of 123.45 INR is confirmed"
    assert "<strong>123.45 INR</strong>" in html_of(message)
    rewards_url = f"{live_server.url}/portal/acme/rewards"
    assert rewards_url in text_of(message)
    page.goto(rewards_url)
    assert "Confirmed" in page.locator("li.card").filter(has_text="123.45 INR").inner_text()

    visitor.close()
    partner.close()
    unexpected = page_errors.unexpected()
    assert not unexpected, "errors in the browser:\n" + "\n".join(unexpected)
