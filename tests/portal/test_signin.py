"""Email sign-in links: single use, expiring, per program, rate limited, and the same answer
for a known and an unknown address."""

from __future__ import annotations

import time
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings

from builder.portal.models import PartnerAccount
from rules.rewards.services.programs import program_create
from tests.portal.conftest import link_in, signed_in

pytestmark = pytest.mark.django_db


def ask(client: Client, email: str, slug: str = "acme", ip: str = "203.0.113.7"):
    return client.post(f"/portal/{slug}/signin", {"email": email}, REMOTE_ADDR=ip)


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["sesame"][0]


def request_link(client, mailoutbox, django_capture_on_commit_callbacks, email="alice@example.com"):
    with django_capture_on_commit_callbacks(execute=True):
        response = ask(client, email)
    assert response.status_code == 200
    return link_in(mailoutbox[-1])


def test_sign_in_flow(client, alice, mailoutbox, django_capture_on_commit_callbacks):
    link = request_link(client, mailoutbox, django_capture_on_commit_callbacks)
    message = mailoutbox[0]
    assert message.to == ["alice@example.com"]
    assert "15 minutes" in message.body
    assert message.alternatives and "Sign in to Acme" in message.alternatives[0][0]
    # Opening the link only shows a button (a mail scanner's GET signs nobody in).
    page = client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert page.status_code == 200 and b"Sign in" in page.content
    assert client.get("/portal/acme/").status_code == 302
    response = client.post("/portal/acme/signin/link", {"sesame": token_of(link)})
    assert response.status_code == 302 and response["Location"] == "/portal/acme/"
    home = client.get("/portal/acme/")
    assert home.status_code == 200 and alice.referral_code.encode() in home.content
    account = PartnerAccount.objects.get(participant=alice)
    assert not account.user.is_staff and not account.user.has_usable_password()


def test_a_link_works_once(client, alice, mailoutbox, django_capture_on_commit_callbacks):
    token = token_of(request_link(client, mailoutbox, django_capture_on_commit_callbacks))
    assert client.post("/portal/acme/signin/link", {"sesame": token}).status_code == 302
    other = Client()
    again = other.post("/portal/acme/signin/link", {"sesame": token})
    assert again.status_code == 400 and b"no longer works" in again.content
    assert other.get("/portal/acme/").status_code == 302


def test_a_link_expires(client, alice, mailoutbox, django_capture_on_commit_callbacks):
    token = token_of(request_link(client, mailoutbox, django_capture_on_commit_callbacks))
    later = mock.Mock(time=mock.Mock(return_value=time.time() + 15 * 60 + 1))
    with mock.patch("sesame.tokens_v2.time", later):
        assert client.post("/portal/acme/signin/link", {"sesame": token}).status_code == 400
    # Within the 15 minutes it still works (it was not used up by the failed try).
    assert client.post("/portal/acme/signin/link", {"sesame": token}).status_code == 302


def test_a_link_of_one_program_signs_in_nowhere_else(
    client, alice, mailoutbox, django_capture_on_commit_callbacks
):
    program_create(slug="globex", name="Globex", currency="USD")
    token = token_of(request_link(client, mailoutbox, django_capture_on_commit_callbacks))
    assert client.post("/portal/globex/signin/link", {"sesame": token}).status_code == 400
    assert client.post("/portal/acme/signin/link", {"sesame": "garbage"}).status_code == 400


def test_unknown_and_known_emails_get_the_same_answer(
    client, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = ask(client, "ALICE@example.com")
        unknown = ask(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content
    assert [m.to for m in mailoutbox] == [["alice@example.com"]]


def test_the_email_must_be_the_programs_participants(
    client, alice, mailoutbox, django_capture_on_commit_callbacks
):
    program_create(slug="globex", name="Globex", currency="USD")
    with django_capture_on_commit_callbacks(execute=True):
        assert ask(client, "alice@example.com", slug="globex").status_code == 200
    assert mailoutbox == []
    assert client.get("/portal/nope/signin").status_code == 404


@override_settings(PORTAL_RATE_PER_EMAIL=3, PORTAL_RATE_PER_IP=5)
def test_rate_limit_per_email_known_or_not(client, alice):
    for email in ("alice@example.com", "nobody@example.com"):
        answers = [ask(client, email, ip=f"198.51.100.{n}").status_code for n in range(4)]
        assert answers == [200, 200, 200, 429]


@override_settings(PORTAL_RATE_PER_EMAIL=3, PORTAL_RATE_PER_IP=5)
def test_rate_limit_per_address(client, alice):
    answers = [ask(client, f"user{n}@example.com").status_code for n in range(6)]
    assert answers == [200] * 5 + [429]
    limited = ask(client, "alice@example.com")
    assert limited.status_code == 429 and limited["Retry-After"]
    assert ask(client, "alice@example.com", ip="192.0.2.1").status_code == 200


def test_partners_never_reach_the_admin_or_the_builder(alice):
    client = signed_in(alice)
    assert client.get("/portal/acme/").status_code == 200
    admin = client.get("/admin/")
    assert admin.status_code == 302 and "/admin/login/" in admin["Location"]
    assert client.get("/admin/ledger/reward/").status_code == 302
    builder = client.get("/builder/")
    assert builder.status_code in (302, 403)
    # Nor the API: its session authentication is for staff only.
    assert client.get("/api/v1/programs/acme/rewards").status_code in (401, 403)


def test_a_staff_session_is_not_a_partner(admin_client, alice):
    response = admin_client.get("/portal/acme/")
    assert response.status_code == 302 and response["Location"] == "/portal/acme/signin"


def test_sign_out(alice):
    client = signed_in(alice)
    assert client.post("/portal/acme/signout").status_code == 302
    assert client.get("/portal/acme/").status_code == 302
