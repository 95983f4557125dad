"""Self-signup by the program's `partner_signup` policy, the approval queue and invitations in
the admin."""

from __future__ import annotations

import pytest
from django.test import Client

from builder.portal.models import PartnerAccount, PartnerApplication, PortalPartner
from config.platform.models import AuditEntry
from rules.models import Participant
from rules.rewards.services.program_settings import program_update
from tests.portal.conftest import link_in

pytestmark = pytest.mark.django_db


def policy(program, value: str):
    return program_update(program=program, changes={"partner_signup": value}, actor="test")


def apply(email: str, name: str = "Carol"):
    return Client().post("/portal/acme/join", {"email": email, "name": name})


def test_closed_is_invite_only(shop, mailoutbox, django_capture_on_commit_callbacks):
    page = Client().get("/portal/acme/join")
    assert page.status_code == 200 and b"by invitation only" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        apply("carol@example.com")
    assert not Participant.objects.exists() and not PartnerApplication.objects.exists()
    assert mailoutbox == []


def test_open_creates_the_partner_and_sends_a_link(
    shop, mailoutbox, django_capture_on_commit_callbacks
):
    policy(shop, "open")
    with django_capture_on_commit_callbacks(execute=True):
        response = apply("carol@example.com")
    assert response.status_code == 200 and b"Check your email" in response.content
    carol = Participant.objects.get(program=shop)
    assert carol.attributes == {"email": "carol@example.com", "name": "Carol"}
    assert carol.external_id.startswith("partner-")
    assert PartnerAccount.objects.filter(participant=carol).exists()
    assert mailoutbox[0].to == ["carol@example.com"] and "Welcome" in mailoutbox[0].subject
    client = Client()
    token = link_in(mailoutbox[0]).split("sesame=")[1]
    assert client.post("/portal/acme/signin/link", {"sesame": token}).status_code == 302
    assert client.get("/portal/acme/").status_code == 200


def test_open_with_a_known_email_sends_a_sign_in_link(
    alice, mailoutbox, django_capture_on_commit_callbacks
):
    policy(alice.program, "open")
    with django_capture_on_commit_callbacks(execute=True):
        apply("alice@example.com")
    assert Participant.objects.count() == 1
    assert mailoutbox[0].to == ["alice@example.com"]


def test_approval_queues_and_an_operator_approves(
    shop, admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    policy(shop, "approval")
    with django_capture_on_commit_callbacks(execute=True):
        first = apply("carol@example.com")
        apply("carol@example.com")  # twice: one application
        apply("dave@example.com", name="")
    assert b"received your request" in first.content
    assert mailoutbox == [] and not Participant.objects.exists()
    assert PartnerApplication.objects.filter(status="pending").count() == 2
    carol = PartnerApplication.objects.get(email="carol@example.com")
    dave = PartnerApplication.objects.get(email="dave@example.com")

    queue = admin_client.get("/admin/portal/partnerapplication/?status__exact=pending")
    assert queue.status_code == 200 and b"carol@example.com" in queue.content
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/portal/partnerapplication/",
            {"action": "approve", "_selected_action": [carol.pk]},
            follow=True,
        )
    assert b"Approved 1 application(s): carol@example.com" in response.content
    carol.refresh_from_db()
    assert carol.status == "approved" and carol.decided_by == "user:admin"
    assert carol.participant is not None
    assert carol.participant.attributes["email"] == "carol@example.com"
    assert mailoutbox[0].to == ["carol@example.com"]
    assert AuditEntry.objects.filter(action="partner_application.approved").count() == 1

    admin_client.post(
        "/admin/portal/partnerapplication/",
        {"action": "reject", "_selected_action": [dave.pk]},
    )
    dave.refresh_from_db()
    assert dave.status == "rejected" and dave.participant is None
    assert AuditEntry.objects.filter(action="partner_application.rejected").count() == 1
    assert len(mailoutbox) == 1
    # Approving a decided application changes nothing.
    admin_client.post(
        "/admin/portal/partnerapplication/",
        {"action": "approve", "_selected_action": [dave.pk]},
    )
    dave.refresh_from_db()
    assert dave.status == "rejected"


def test_an_operator_invites_participants(
    alice, shop, admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    nomail = Participant.objects.create(
        program=shop, external_id="nomail", referral_code="NOMAIL23"
    )
    assert admin_client.get("/admin/portal/portalpartner/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/portal/portalpartner/",
            {"action": "invite", "_selected_action": [alice.pk, nomail.pk]},
            follow=True,
        )
    assert b"Sent a sign-in invitation to 1: alice" in response.content
    assert b"No email attribute, not invited: nomail" in response.content
    assert [m.to for m in mailoutbox] == [["alice@example.com"]]
    assert AuditEntry.objects.filter(action="partner.invited", object_id="alice").exists()
    assert PortalPartner.objects.count() == 2


def test_the_signup_form_is_rate_limited(shop, settings):
    settings.PORTAL_RATE_PER_IP = 2
    policy(shop, "approval")
    answers = [apply(f"p{n}@example.com").status_code for n in range(3)]
    assert answers == [200, 200, 429]


def test_operators_work_the_queue(
    shop, django_user_model, mailoutbox, django_capture_on_commit_callbacks
):
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group

    importlib.import_module("builder.portal.migrations.0002_operator_permissions").grant(apps, None)
    operator = django_user_model.objects.create_user("olga", password="x", is_staff=True)
    operator.groups.add(Group.objects.get(name="operators"))
    client = Client()
    client.force_login(operator)
    policy(shop, "approval")
    apply("carol@example.com")
    carol = PartnerApplication.objects.get()
    assert client.get("/admin/portal/partnerapplication/").status_code == 200
    assert client.get("/admin/portal/portalpartner/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/portal/partnerapplication/",
            {"action": "approve", "_selected_action": [carol.pk]},
        )
    carol.refresh_from_db()
    assert carol.status == "approved" and carol.decided_by == "user:olga"
    assert mailoutbox[0].to == ["carol@example.com"]
