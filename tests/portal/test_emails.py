"""The partner emails through a real SMTP server (aiosmtpd, tests/portal/smtp.py): what each says
(text and HTML, money in major units), that they leave only after the money write commits, that
a mail server that is down delays them rather than losing or doubling them, and that partners'
preferences hold. Transactional tests: `transaction.on_commit` runs as in production."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connections, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from builder.portal import outbox, tasks
from builder.portal.delivery import email_deliver, email_deliver_due, email_retry_delay
from builder.portal.models import EmailOutbox, PartnerAccount
from builder.portal.services import partner_account_ensure
from builder.portal.tasks import email_inline_wait
from config.platform import notifications
from config.platform.models import AuditEntry
from config.platform.notifications import notification_emit
from rules.models import Participant
from rules.rewards.models import Reward
from rules.rewards.services.payout_items import payout_item_fail
from rules.rewards.services.program_settings import program_update
from rules.rewards.services.rewards import reward_confirm, reward_create, rewards_confirm_due
from rules.services.participants import participant_upsert
from tests.portal.smtp import SmtpServer, html_of, text_of

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "https://ref.example.com"


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    with server.settings(PORTAL_BASE_URL=BASE):
        yield server
    server.stop()


@pytest.fixture
def partner(alice):
    """alice with a portal account (she joined the portal), and her name."""
    alice.attributes = {**alice.attributes, "name": "Alice"}
    alice.save(update_fields=["attributes"])
    partner_account_ensure(participant=alice)
    return alice


def pending_reward(participant, amount: int = 123456, key: str = "r1") -> Reward:
    return reward_create(
        program=participant.program,
        beneficiary=participant.external_id,
        amount=amount,
        currency=participant.program.currency,
        reward_type="cash",
        source_key=f"emails:{key}",
        actor="test",
    )[0]


def settle() -> None:
    assert email_inline_wait(timeout=30)


def later(seconds: int = 7 * 3600):
    return timezone.now() + timedelta(seconds=seconds)


def test_reward_confirmed_email(smtp, partner):
    reward = pending_reward(partner)
    reward_confirm(reward=reward, actor="test")
    settle()
    [message] = smtp.received(1)
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Acme: your reward of 1,234.56 INR is confirmed"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = text_of(message), html_of(message)
    assert "Hello Alice," in text and "Your reward of 1,234.56 INR from Acme is confirmed" in text
    assert f"{BASE}/portal/acme/rewards" in text and f"{BASE}/portal/acme/preferences" in text
    assert "<strong>1,234.56 INR</strong>" in html
    assert f'href="{BASE}/portal/acme/rewards"' in html
    row = EmailOutbox.objects.get()
    assert (row.kind, row.object_key, row.status) == (
        "reward_confirmed",
        f"reward:{reward.pk}",
        "sent",
    )
    assert row.to == "alice@example.com" and row.attempts == 1


def test_payout_emails_in_major_units(smtp, partner):
    data = {"beneficiary": "alice", "amount": 5000, "currency": "INR", "batch": 3}
    with transaction.atomic():
        notification_emit(
            "payout.sent",
            program_id=partner.program_id,
            beneficiary="alice",
            data={**data, "payout_item": 11},
        )
        notification_emit(
            "payout.failed",
            program_id=partner.program_id,
            beneficiary="alice",
            data={"payout_item": 12, "amount": 700, "currency": "JPY", "reason": "account closed"},
        )
    settle()
    sent, failed = sorted(smtp.received(2), key=lambda m: "could not" in m["Subject"])
    assert sent["Subject"] == "Acme: we sent you 50.00 INR"
    assert "sent you a payout of 50.00 INR" in text_of(sent)
    assert f"{BASE}/portal/acme/payouts" in text_of(sent)
    assert "<strong>50.00 INR</strong>" in html_of(sent)
    # JPY has no minor unit: 700 is 700 yen. The failure says why and where to fix it.
    assert failed["Subject"] == "Acme: your payout of 700 JPY could not be sent"
    assert "could not be sent: account closed." in text_of(failed)
    assert f"{BASE}/portal/acme/payout-details" in text_of(failed)
    assert f'href="{BASE}/portal/acme/payout-details"' in html_of(failed)
    keys = set(EmailOutbox.objects.values_list("kind", "object_key", "beneficiary"))
    assert keys == {
        ("payout_sent", "payout_item:11", "alice"),
        ("payout_failed", "payout_item:12", "alice"),
    }


def test_sent_only_after_commit(smtp, partner):
    reward = pending_reward(partner)
    with transaction.atomic():
        reward_confirm(reward=reward, actor="test")
        assert EmailOutbox.objects.filter(status="pending").count() == 1
        assert email_inline_wait(timeout=5) and smtp.messages == []
    settle()
    assert len(smtp.received(1)) == 1


def test_a_rolled_back_change_sends_nothing(smtp, partner):
    reward = pending_reward(partner)
    with pytest.raises(RuntimeError), transaction.atomic():
        reward_confirm(reward=reward, actor="test")
        raise RuntimeError("the change fails after the confirmation")
    settle()
    assert email_deliver_due(now=later()) == 0
    reward.refresh_from_db()
    assert reward.status == "pending"
    assert not EmailOutbox.objects.exists() and smtp.messages == []


def test_mail_server_down_is_retried_and_delivered_once(smtp, partner):
    smtp.stop()
    reward_confirm(reward=pending_reward(partner), actor="test")
    settle()
    row = EmailOutbox.objects.get()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > timezone.now() + email_retry_delay(1) - timedelta(seconds=5)
    # Not due yet: the sweep leaves it.
    assert email_deliver_due() == 0
    # Still down at the next attempt: the wait doubles.
    assert email_deliver_due(now=later()) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 2)
    smtp.start()
    assert email_deliver_due(now=later(2 * 7 * 3600)) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 3)
    assert len(smtp.received(1)) == 1
    # Later sweeps find nothing to send: one email, not one per attempt.
    assert email_deliver_due(now=later(30 * 24 * 3600)) == 0
    assert len(smtp.messages) == 1


@override_settings(PORTAL_EMAIL_MAX_ATTEMPTS=2)
def test_gives_up_after_the_last_attempt(smtp, partner):
    smtp.stop()
    reward_confirm(reward=pending_reward(partner), actor="test")
    settle()
    email_deliver_due(now=later())
    row = EmailOutbox.objects.get()
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 2, None)


def test_preferences_are_honoured(smtp, partner):
    account = PartnerAccount.objects.get(participant=partner)
    account.email_reward_confirmed = False
    account.save()
    reward_confirm(reward=pending_reward(partner, key="off"), actor="test")
    settle()
    assert not EmailOutbox.objects.exists()
    # Turned off after the email was queued (here: while the mail server was down): the
    # preference at sending time counts.
    account.email_reward_confirmed, account.email_payout_sent = True, True
    account.save()
    smtp.stop()
    reward_confirm(reward=pending_reward(partner, key="on"), actor="test")
    settle()
    account.email_reward_confirmed = False
    account.save()
    smtp.start()
    email_deliver_due(now=later())
    row = EmailOutbox.objects.get()
    assert (row.status, row.last_error) == ("skipped", "the partner turned this email off")
    # The other kinds are still sent.
    with transaction.atomic():
        notification_emit(
            "payout.sent",
            program_id=partner.program_id,
            beneficiary="alice",
            data={"payout_item": 1, "beneficiary": "alice", "amount": 100, "currency": "INR"},
        )
    settle()
    [message] = smtp.received(1)
    assert message["Subject"] == "Acme: we sent you 1.00 INR"


def test_preferences_page_turns_an_email_off(smtp, partner):
    client = Client()
    client.force_login(PartnerAccount.objects.get(participant=partner).user)
    client.post("/portal/acme/preferences", {"email_payout_sent": "on"})
    reward_confirm(reward=pending_reward(partner), actor="test")
    settle()
    assert not EmailOutbox.objects.exists() and smtp.messages == []


def test_participants_who_never_joined_the_portal_get_nothing(smtp, alice):
    reward_confirm(reward=pending_reward(alice), actor="test")
    settle()
    assert not EmailOutbox.objects.exists() and smtp.messages == []


def test_one_email_per_object_under_repeats_and_races(smtp, partner):
    reward = pending_reward(partner)
    reward_confirm(reward=reward, actor="test")
    reward_confirm(reward=reward, actor="test")  # a repeat changes nothing and tells nobody
    data = {"reward": reward.pk, "beneficiary": "alice", "amount": 1, "currency": "INR"}
    with transaction.atomic():  # the same notification again (a redelivered job, say)
        notification_emit(
            "reward.confirmed", program_id=partner.program_id, beneficiary="alice", data=data
        )
    settle()
    assert EmailOutbox.objects.count() == 1
    # Two workers attempting the same due row at once: one sends, the other finds it leased.
    smtp.stop()
    with transaction.atomic():
        notification_emit(
            "payout.sent",
            program_id=partner.program_id,
            beneficiary="alice",
            data={"payout_item": 5, "beneficiary": "alice", "amount": 1, "currency": "INR"},
        )
    settle()
    smtp.start()
    row = EmailOutbox.objects.get(kind="payout_sent")
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def attempt() -> None:
        barrier.wait()
        try:
            results.append(email_deliver(row, now=later()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert len(smtp.received(2)) == 2  # the reward's email and the payout's, once each
    assert email_deliver_due(now=later(30 * 24 * 3600)) == 0
    assert len(smtp.messages) == 2


def test_the_auto_confirm_sweep_sends_the_email(smtp, partner):
    program_update(program=partner.program, changes={"hold_days": 14}, actor="test")
    reward = pending_reward(partner, amount=99)
    Reward.objects.filter(pk=reward.pk).update(created_at=timezone.now() - timedelta(days=15))
    assert rewards_confirm_due() == 1
    settle()
    [message] = smtp.received(1)
    assert message["Subject"] == "Acme: your reward of 0.99 INR is confirmed"


def test_a_broken_outbox_never_breaks_the_money_write(smtp, partner, monkeypatch):
    """A real database error in the handler (as when the portal's table is missing): on
    PostgreSQL it would abort the whole transaction without the handler's savepoint."""

    def broken(*args, **kwargs):
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT * FROM portal_no_such_table")

    monkeypatch.setattr(outbox, "_partner", broken)
    reward = reward_confirm(reward=pending_reward(partner), actor="test")
    reward.refresh_from_db()
    assert reward.status == "confirmed"
    assert reward.history.filter(status="confirmed").exists()
    assert not EmailOutbox.objects.exists()


def test_a_lost_connection_in_the_handler_fails_the_money_write(smtp, partner, monkeypatch):
    """When the handler's savepoint cannot even be rolled back (the database session was
    terminated), the confirmation must fail loudly, not return as if confirmed and then be
    rolled back silently at commit (the chaos test saw an acknowledged confirm stay pending)."""

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(outbox, "_partner", lost)
    monkeypatch.setattr(connections["default"], "savepoint_rollback", lost)
    reward = pending_reward(partner)
    with pytest.raises(OperationalError):
        reward_confirm(reward=reward, actor="test")
    monkeypatch.undo()
    connections["default"].close()
    reward.refresh_from_db()
    assert reward.status == "pending"
    assert not EmailOutbox.objects.exists()


def test_a_lost_hand_off_is_picked_up_by_the_sweep(smtp, partner, monkeypatch):
    monkeypatch.setattr(tasks, "_inline_submit", lambda ids: False)  # a full queue, a crash
    reward_confirm(reward=pending_reward(partner), actor="test")
    assert smtp.messages == []
    assert email_deliver_due() == 1
    assert len(smtp.received(1)) == 1


def test_with_a_broker_the_celery_task_gets_the_hand_off(smtp, partner, monkeypatch):
    handed: list[list[int]] = []
    monkeypatch.setattr(tasks.email_send, "delay", lambda ids: handed.append(ids))
    with override_settings(CELERY_BROKER_URL="redis://broker.invalid:6379/0"):
        with transaction.atomic():
            reward_confirm(reward=pending_reward(partner), actor="test")
            assert handed == []  # not before the commit
    row = EmailOutbox.objects.get()
    assert handed == [[row.pk]]
    assert tasks.email_send(handed[0]) == 1  # what the worker runs
    assert len(smtp.received(1)) == 1


def test_welcome_and_sign_in_emails(smtp, shop):
    program_update(program=shop, changes={"partner_signup": "open"}, actor="test")
    Client().post("/portal/acme/join", {"email": "carol@example.com", "name": "Carol"})
    [welcome] = smtp.received(1)
    assert welcome["Subject"] == "Welcome to Acme's partner program"
    assert "/portal/acme/signin/link?sesame=" in text_of(welcome)
    assert "Sign in to Acme</a>" in html_of(welcome)
    Client().post("/portal/acme/signin", {"email": "carol@example.com"})
    signin = smtp.received(2)[1]
    assert signin["Subject"] == "Your sign-in link for Acme"
    assert "works once and for 15 minutes" in text_of(signin)
    assert Participant.objects.get(program=shop).attributes["email"] == "carol@example.com"


@override_settings(PORTAL_EMAIL_MAX_ATTEMPTS=1)
def test_an_operator_sends_a_failed_email_again(smtp, partner, admin_client):
    smtp.stop()
    reward_confirm(reward=pending_reward(partner), actor="test")
    settle()
    row = EmailOutbox.objects.get()
    assert row.status == "failed"
    smtp.start()
    page = admin_client.get("/admin/portal/emailoutbox/")
    assert page.status_code == 200 and b"Reward confirmed" in page.content
    done = admin_client.post(
        "/admin/portal/emailoutbox/",
        {"action": "send_again", "_selected_action": [row.pk]},
        follow=True,
    )
    assert b"Queued 1 email(s) to send again: Reward confirmed to alice" in done.content
    settle()
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(smtp.received(1)) == 1
    assert AuditEntry.objects.filter(action="partner_email.sent_again", object_id=row.pk).exists()


def test_payouts_tell_the_partner_end_to_end(smtp, partner, earn, pay):
    """The money domain's own calls (rules/rewards/services/payouts.py and payout_items.py):
    executing a batch emails "sent"; failing the item afterwards emails "failed" with why."""
    earn(partner, 150000)
    item = pay(partner)
    settle()
    messages = smtp.received(2)
    assert [m["Subject"] for m in messages] == [
        "Acme: your reward of 1,500.00 INR is confirmed",
        "Acme: we sent you 1,500.00 INR",
    ]
    payout_item_fail(batch=item.batch, item=item, reason="the bank account is closed", actor="ops")
    settle()
    failed = smtp.received(3)[2]
    assert failed["Subject"] == "Acme: your payout of 1,500.00 INR could not be sent"
    assert "could not be sent: the bank account is closed." in text_of(failed)
    assert set(EmailOutbox.objects.values_list("kind", "object_key")) == {
        ("reward_confirmed", f"reward:{Reward.objects.get().pk}"),
        ("payout_sent", f"payout_item:{item.pk}"),
        ("payout_failed", f"payout_item:{item.pk}"),
    }


def test_the_handler_costs_a_confirmation_three_statements(partner, alice, monkeypatch):
    """What the notification adds to a confirmation of a participant who is no partner (most
    of a large program's): a savepoint around one indexed read. A partner's adds the insert."""
    bob = participant_upsert(
        program=partner.program, external_id="bob", attributes={}, actor="test"
    )[0]

    def statements(participant, key: str, handlers: list) -> list[str]:
        reward = pending_reward(participant, key=key)
        monkeypatch.setattr(notifications, "_HANDLERS", handlers)
        with CaptureQueriesContext(connections["default"]) as queries:
            reward_confirm(reward=reward, actor="test")
        return [q["sql"] for q in queries.captured_queries]

    registered = list(notifications._HANDLERS)
    without = statements(bob, "a", [])
    with_handler = statements(bob, "b", registered)
    added = len(with_handler) - len(without)
    assert added == 3, with_handler
    assert len(statements(partner, "c", registered)) - len(without) == 4
