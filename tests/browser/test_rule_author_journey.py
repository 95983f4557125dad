"""A rule author's whole journey in real headless Chromium against the live server (issue 15,
"Done when"): drafting from words (the offline drafter: no GROQ_API_KEY), testing the unsaved
canvas, saving a scenario, asking a second person to publish (who approves), and reading why an
event did not pay. Everything is asserted on what the page shows."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SENTENCE = "When a paid user refers someone who subscribes to premium, reward 500 rupees voucher"
# The editor's live validation asks the server about unfinished canvases (400), and a publish
# refused because a scenario fails is 409: both are answers the page shows, not page errors.
VALIDATE_400 = r"status of 400 .*\[.*/rules/validate\]"
PUBLISH_409 = r"status of 409 .*\[.*/rules/\d+/publish\]"


def sign_in(page, live_server, user) -> None:
    """The page's browser holds only `user`'s session from now on."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    # Leave the current page first: its requests still on the way must not arrive without a
    # session (401) after the cookies change.
    page.goto("about:blank")
    page.context.clear_cookies()
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )


def open_editor(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")


def open_card(page, card: str) -> None:
    if not page.locator(f"#{card}").evaluate("(el) => el.open"):
        page.locator(f"#{card} summary").click()


def run_test(page, event: dict) -> str:
    open_card(page, "test-section")
    sample = page.locator("#sample-event")
    # The catalog's sample lands a moment after the card opens: wait for it, then replace it.
    expect(sample).not_to_have_value("")
    sample.fill(json.dumps(event))
    page.locator("#test-result").evaluate("(el) => el.replaceChildren()")
    page.locator("#run-test").click()
    expect(page.locator("#test-verdict")).to_be_visible()
    return page.locator("#test-result").inner_text()


@pytest.fixture
def people(program):
    """An author and an approver: staff users in the "rule authors" group (what the builder
    and the rules API need), and a program that requires two people to publish a rule."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from rules.models import RuleProgramConfig
    from tests.conftest import ensure_groups

    ensure_groups()
    authors = Group.objects.get(name="rule authors")
    users = {}
    for name in ("author", "approver"):
        user = get_user_model().objects.create_user(name, password=f"{name}-pw", is_staff=True)
        user.groups.add(authors)
        users[name] = user
    RuleProgramConfig.objects.update_or_create(
        program=program, defaults={"rules_publish_requires_approval": True}
    )
    return users


def test_an_author_drafts_tests_saves_a_scenario_and_a_second_person_publishes(
    page, live_server, program, people, api, url, page_errors
):
    page_errors.allow(VALIDATE_400)
    page_errors.allow(PUBLISH_409)
    page.on("console", page_errors.console)
    page.on("pageerror", page_errors.page_error)
    page.set_default_timeout(15_000)
    # alice pays for the product and referred bob; carol does not, and referred dave.
    api.put(url("participants/alice"), {"attributes": {"is_paid_user": True}}, format="json")
    api.put(url("participants/carol"), {"attributes": {"is_paid_user": False}}, format="json")
    for referrer, referred in (("alice", "bob"), ("carol", "dave")):
        response = api.post(
            url("referrals"), {"referrer": referrer, "referred": referred}, format="json"
        )
        assert response.status_code == 201, response.content

    # --- the author drafts the rule from words ------------------------------------------
    sign_in(page, live_server, people["author"])
    open_editor(page, f"{live_server.url}/builder/acme/rules/new")
    assert page.locator("#publish").inner_text() == "Request publish"
    open_card(page, "words-section")
    page.locator("#words").fill(SENTENCE)
    page.locator("#draft").click()
    expect(page.locator("#draft-result")).to_contain_text("offline parser")
    page.wait_for_function("() => ruleBuilder.graph.getNodes().length === 5")
    expect(page.locator("#rule-status")).to_contain_text("not saved yet")

    # --- tests the canvas before saving anything ----------------------------------------
    premium_bob = {
        "type": "subscription_started",
        "user": "bob",
        "attributes": {"subscription_plan": "premium"},
    }
    shown = run_test(page, premium_bob)
    assert shown.startswith("Matched: this event would pay.")
    assert "₹ 500.00 voucher" in shown
    shown = run_test(page, {**premium_bob, "user": "dave"})
    assert shown.startswith("Not matched: this event would not pay.")
    # A scenario belongs to a saved rule: the form says so instead of failing.
    expect(page.locator("#save-scenario")).to_be_disabled()
    expect(page.locator("#scenario-note")).to_have_text(
        "Save the rule first to keep this test as a scenario."
    )
    assert api.get(url("rules")).json()["results"] == []  # testing saved nothing

    # --- saves the draft, and keeps a test as a scenario ----------------------------------
    page.locator("#save").click()
    page.wait_for_url(re.compile(r"/builder/acme/rules/\d+$"))
    rule_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#rule-status")).to_contain_text("draft · v1")
    run_test(page, premium_bob)
    expect(page.locator("#save-scenario")).to_be_enabled()
    page.locator("#scenario-name").fill("Paid referrer, premium plan")
    assert page.locator("#scenario-expect").input_value() == "match"
    expect(page.locator("#scenario-rewards")).to_have_text("and pays ₹ 500.00 to the referrer")
    page.locator("#save-scenario").click()
    saved = page.locator("#scenario-list li").filter(has_text="Paid referrer, premium plan")
    expect(saved).to_contain_text("should match and pay ₹ 500.00 to the referrer")
    expect(saved).to_contain_text("passed on v1")

    # --- asks a second person to publish ----------------------------------------------------
    page.locator("#publish").click()
    changes = page.locator("#publish-changes")
    expect(changes).to_contain_text("Nothing of this rule is live yet")
    expect(changes).to_contain_text(
        'Added group: all of (referrer.is_paid_user is yes; referred.subscription_plan is "premium")'
    )
    # ... and the canvas shows what goes live, node by node.
    expect(page.locator('#canvas [data-diff="added"]')).not_to_have_count(0)
    confirm = page.locator("#confirm-publish")
    expect(confirm).to_have_text("Ask a second person to publish v1")
    confirm.click()
    expect(page.locator("#message")).to_contain_text("Asked for approval")
    request = page.locator("#publish-requests .request-pending")
    expect(request).to_contain_text("v1: waiting for approval")
    expect(request).to_contain_text("Asked by author")
    # The requester may not approve their own request, and is told why.
    expect(request.locator("button[name=approve]")).to_be_disabled()
    expect(request.locator(".four-eyes")).to_contain_text("someone else must approve it")
    expect(page.locator("#publish-state")).to_have_text("v1 waiting for approval (asked by author)")
    assert api.get(url(f"rules/{rule_id}")).json()["status"] == "draft"

    # --- the approver approves --------------------------------------------------------------
    sign_in(page, live_server, people["approver"])
    open_editor(page, f"{live_server.url}/builder/acme/rules/{rule_id}")
    expect(page.locator("#publish-state")).to_have_text("v1 waiting for approval (asked by author)")
    # The rule waits for this person: the review opens by itself, the changes on the canvas.
    expect(page.locator("#message")).to_contain_text("v1 waits for your approval")
    expect(page.locator("#change-list")).to_contain_text(
        "New rule on the trigger subscription_started"
    )
    expect(page.locator('#canvas [data-diff="added"]')).to_have_count(5)
    approve = page.locator("#publish-requests .request-pending button[name=approve]")
    expect(approve).to_be_enabled()
    expect(approve).to_have_text("Approve and publish v1")
    approve.click()
    expect(page.locator("#message")).to_contain_text("Approved: v1 is now live.")
    expect(page.locator("#rule-status")).to_contain_text("active · v1")
    expect(page.locator("#publish-requests")).to_contain_text("v1: approved and published")
    stored = api.get(url(f"rules/{rule_id}")).json()
    assert (stored["status"], stored["active_version"]) == ("active", 1)

    # --- a change shows on the canvas; a failing scenario holds publishing back -------------
    sign_in(page, live_server, people["author"])
    open_editor(page, f"{live_server.url}/builder/acme/rules/{rule_id}")
    changed = json.loads(page.locator("#json").input_value())
    changed["conditions"]["conditions"][1]["value"] = "gold"
    open_card(page, "json-section")
    page.locator("#json").fill(json.dumps(changed))
    page.locator("#apply-json").click()
    page.locator("#save").click()
    expect(page.locator("#message")).to_contain_text("1 of 1 scenarios fail")
    expect(page.locator("#rule-status")).to_contain_text("v2")
    page.locator("#publish").click()
    expect(page.locator("#change-list")).to_have_text(
        'Changed condition: referred.subscription_plan is "premium" → '
        'referred.subscription_plan is "gold"'
    )
    expect(page.locator('#canvas [data-diff="changed"]')).to_have_count(1)
    page.locator("#confirm-publish").click()
    expect(page.locator("#publish-changes .failing")).to_contain_text("Paid referrer, premium plan")
    assert api.get(url(f"rules/{rule_id}")).json()["active_version"] == 1
    page.locator("#close-review").click()
    expect(page.locator("#canvas [data-diff]:not([data-diff=''])")).to_have_count(0)

    # --- events arrive; the author reads why one did not pay ---------------------------------
    for event_id, user in (("evt-bob", "bob"), ("evt-dave", "dave")):
        body = {"id": event_id, **{**premium_bob, "user": user}}
        assert api.post(url("events"), body, format="json").status_code in (200, 202)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    open_card(page, "results-section")
    expect(page.locator("#results-totals")).to_have_text(
        "Last 30 days: 1 match, 1 reward worth ₹ 500.00."
    )
    paid = page.locator("#recent-outcomes li[data-event=evt-bob]")
    expect(paid.locator(".outcome")).to_have_text("matched, 1 reward")
    unpaid = page.locator("#recent-outcomes li[data-event=evt-dave]")
    expect(unpaid.locator(".outcome")).to_have_text("did not match")
    assert page_errors.unexpected() == []
    unpaid.get_by_role("button", name="Why for event evt-dave").click()
    why = unpaid.locator(".why .mine")
    expect(why).to_contain_text("Premium referral reward")
    expect(why).to_contain_text("did not match")
    expect(why).to_contain_text("the referrer is not a paid user")

    assert page_errors.unexpected() == []


def test_the_rule_list_searches_and_the_editor_fits_a_phone(
    page, live_server, program, people, api, url, page_errors
):
    page.on("console", page_errors.console)
    page.on("pageerror", page_errors.page_error)
    page.set_default_timeout(15_000)
    from tests.spec_examples import SPEC_EXAMPLE_RULE

    for name, trigger in (("Premium referral", "subscription_started"), ("Big order", "purchase")):
        body = {**SPEC_EXAMPLE_RULE, "name": name, "trigger": trigger}
        if trigger == "purchase":
            body["conditions"] = {
                "operator": "AND",
                "conditions": [{"field": "event.amount", "operator": "greater_than", "value": 1}],
            }
        response = api.post(url("rules"), body, format="json")
        assert response.status_code == 201, response.content
    sign_in(page, live_server, people["author"])
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/builder/")
    rows = page.locator("tr[data-rule]")
    expect(rows).to_have_count(2)
    page.locator("#rule-query").fill("purchase")
    expect(page.locator("tr[data-rule]:visible")).to_have_count(1)
    expect(page.locator("tr[data-rule]:visible")).to_contain_text("Big order")
    expect(page.locator("#rule-count")).to_have_text("1 of 2 rules shown")
    page.locator("#rule-query").fill("")
    page.locator("#rule-status-filter").select_option("active")
    expect(page.locator("tr[data-rule]:visible")).to_have_count(0)
    expect(page.locator(".no-match")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.locator("#rule-status-filter").select_option("")
    page.get_by_role("link", name="Premium referral").click()
    page.wait_for_selector("body[data-ready=true]")
    # One column: nothing wider than the phone, and the buttons an author needs are reachable.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for button in ("#save", "#publish"):
        page.locator(button).scroll_into_view_if_needed()
        expect(page.locator(button)).to_be_visible()
    open_card(page, "test-section")
    page.locator("#run-test").scroll_into_view_if_needed()
    expect(page.locator("#run-test")).to_be_visible()
    assert page_errors.unexpected() == []


def test_a_second_person_rejects_with_a_reason_the_requester_reads(
    page, live_server, program, people, api, url, page_errors
):
    from tests.spec_examples import SPEC_EXAMPLE_RULE

    page.on("console", page_errors.console)
    page.on("pageerror", page_errors.page_error)
    page.set_default_timeout(15_000)
    sign_in(page, live_server, people["author"])
    rule = api.post(url("rules"), SPEC_EXAMPLE_RULE, format="json").json()
    open_editor(page, f"{live_server.url}/builder/acme/rules/{rule['id']}")
    page.locator("#publish").click()
    page.locator("#confirm-publish").click()
    expect(page.locator("#publish-state")).to_have_text("v1 waiting for approval (asked by author)")

    sign_in(page, live_server, people["approver"])
    open_editor(page, f"{live_server.url}/builder/acme/rules/{rule['id']}")
    request = page.locator("#publish-requests .request-pending")
    request.locator("button[name=reject]").click()
    expect(page.locator("#message")).to_contain_text("Say why you reject it")
    request.locator("input[name=reject-reason]").fill("500 rupees is over budget <b>this</b> month")
    request.locator("button[name=reject]").click()
    expect(page.locator("#message")).to_have_text("Rejected the request to publish v1.")

    sign_in(page, live_server, people["author"])
    open_editor(page, f"{live_server.url}/builder/acme/rules/{rule['id']}")
    open_card(page, "publish-section")
    rejected = page.locator("#publish-requests .request-rejected")
    expect(rejected).to_contain_text("v1: rejected")
    expect(rejected).to_contain_text("Rejected by approver")
    expect(rejected).to_contain_text("500 rupees is over budget <b>this</b> month")
    expect(page.locator("#publish-state")).to_be_hidden()
    assert api.get(url(f"rules/{rule['id']}")).json()["status"] == "draft"
    assert page_errors.unexpected() == []
