"""Header injection through the partner emails (SPEC section 12): a participant's email
attribute, name or the program's name carrying CR/LF or a second address never adds a
recipient or a header; the money write that caused the email stands either way."""

from __future__ import annotations

import pytest

from builder.portal.models import EmailOutbox
from builder.portal.services import partner_account_ensure
from builder.portal.tasks import email_inline_wait
from rules.rewards.models import Reward
from rules.rewards.services.rewards import reward_confirm, reward_create
from rules.services.participants import participant_upsert
from tests.portal.conftest import _clear_rate_limits, shop  # noqa: F401  (fixtures)
from tests.portal.smtp import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)

EVIL = "evil@attacker.example"


class Envelopes(SmtpServer):
    """The SMTP server of tests/portal, also keeping every envelope's recipients."""

    def __init__(self) -> None:
        super().__init__()
        self.recipients: list[str] = []

    def start(self) -> None:
        super().start()
        handler = self._controller.handler  # type: ignore[union-attr]
        original = handler.handle_DATA

        async def handle_data(server, session, envelope):
            with self.lock:
                self.recipients.extend(envelope.rcpt_tos)
            return await original(server, session, envelope)

        handler.handle_DATA = handle_data


@pytest.fixture
def smtp():
    server = Envelopes()
    server.start()
    with server.settings(PORTAL_BASE_URL="https://ref.example.com"):
        yield server
    server.stop()


@pytest.mark.parametrize(
    ("email", "name"),
    [
        (f"alice@example.com\r\nBcc: {EVIL}", "Alice"),
        (f"alice@example.com\nBcc: {EVIL}", "Alice"),
        (f"alice@example.com, {EVIL}", "Alice"),
        (f"alice@example.com>, <{EVIL}", "Alice"),
        (f'"alice@example.com\r\nBcc: {EVIL}" <alice@example.com>', "Alice"),
        ("alice@example.com", f"Alice\r\nBcc: {EVIL}\r\nSubject: win"),
    ],
)
def test_no_recipient_or_header_is_injected(smtp, shop, email, name):  # noqa: F811
    alice = participant_upsert(
        program=shop,
        external_id="alice",
        attributes={"email": email, "name": name},
        actor="test",
    )[0]
    partner_account_ensure(participant=alice)
    reward = reward_create(
        program=shop,
        beneficiary="alice",
        amount=5000,
        currency=shop.currency,
        reward_type="cash",
        source_key="attack:1",
        actor="test",
    )[0]
    reward_confirm(reward=reward, actor="test")
    assert email_inline_wait(timeout=30)
    assert Reward.objects.get(pk=reward.pk).status == Reward.Status.CONFIRMED
    assert EVIL not in " ".join(smtp.recipients)
    for message in smtp.messages:
        assert message.get_all("Bcc") is None
        assert EVIL not in str(message.get("To", ""))
        assert len(message.get_all("Subject") or []) == 1
    row = EmailOutbox.objects.get()
    if email == "alice@example.com":  # a plain address: the email went, name and all
        assert row.status == EmailOutbox.Status.SENT and len(smtp.received(1)) == 1
    else:
        assert row.status != EmailOutbox.Status.SENT or row.to == "alice@example.com", row.to


def test_a_program_name_with_a_newline_adds_no_header(smtp, shop):  # noqa: F811
    from config.platform.models import Program

    Program.objects.filter(pk=shop.pk).update(name=f"Acme\r\nBcc: {EVIL}")
    alice = participant_upsert(
        program=shop, external_id="alice", attributes={"email": "alice@example.com"}, actor="t"
    )[0]
    partner_account_ensure(participant=alice)
    reward = reward_create(
        program=shop,
        beneficiary="alice",
        amount=5000,
        currency=shop.currency,
        reward_type="cash",
        source_key="attack:2",
        actor="test",
    )[0]
    reward_confirm(reward=reward, actor="test")
    assert email_inline_wait(timeout=30)
    assert EVIL not in " ".join(smtp.recipients)
    for message in smtp.messages:
        assert message.get_all("Bcc") is None
