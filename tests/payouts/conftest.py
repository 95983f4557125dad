"""Fixtures for payout methods, rails and the item lifecycle (SPEC §13): participants of the
`acme` program (INR), confirmed rewards, approved batches on a chosen rail, and the
notifications the money domain emits."""

from __future__ import annotations

import itertools

import pytest

from config.platform.notifications import _HANDLERS, notification_handler_register
from rules.rewards.models import PayoutBatch
from rules.rewards.rails.base import rail_get, rail_register
from rules.rewards.rails.stripe_connect import StripeConnectRail
from rules.rewards.services import payouts
from rules.rewards.services.payout_methods import payout_method_set
from rules.rewards.services.rewards import reward_confirm, reward_create
from rules.services.participants import participant_upsert
from tests.ledger.operator_fixtures import groups, staff  # noqa: F401  (the console's users)
from tests.rails.stub_servers import StripeStub

CREATOR, APPROVER = "user:alice", "user:bob"
_keys = itertools.count(1)


@pytest.fixture
def participant(program):
    """participant(external_id, email=None) -> a Participant of the program."""

    def make(external_id: str, prog=None, email: str | None = None):
        attributes = {"email": email} if email else {}
        return participant_upsert(
            program=prog or program, external_id=external_id, attributes=attributes, actor="test"
        )[0]

    return make


@pytest.fixture
def earned(program, participant):
    """earned(beneficiary, amount, method=("paypal", {...}) | None) -> a confirmed Reward of a
    participant (created on first use), with the payout method set when given."""

    def make(beneficiary: str, amount: int, method=None, prog=None):
        prog = prog or program
        participant(beneficiary, prog)
        if method is not None:
            payout_method_set(
                program=prog,
                beneficiary=beneficiary,
                method=method[0],
                details=method[1],
                actor="test",
            )
        reward, _ = reward_create(
            program=prog,
            beneficiary=beneficiary,
            amount=amount,
            currency=prog.currency,
            reward_type="cash",
            source_key=f"payouts-test:{next(_keys)}",
            actor="test",
        )
        return reward_confirm(reward=reward, actor="test")

    return make


@pytest.fixture
def approved(program):
    """approved(["carol", ...], rail="csv", csv_format="generic") -> an approved batch paying
    each beneficiary's whole available balance."""

    def make(beneficiaries, *, rail="csv", csv_format="generic", prog=None) -> PayoutBatch:
        prog = prog or program
        batch = payouts.payout_batch_create(
            program=prog, actor=CREATOR, rail=rail, csv_format=csv_format
        )
        for b in beneficiaries:
            payouts.payout_item_add(batch=batch, beneficiary=b, actor=CREATOR)
        payouts.payout_batch_submit(batch=batch, actor=CREATOR)
        return payouts.payout_batch_approve(batch=batch, actor=APPROVER)

    return make


@pytest.fixture
def notifications():
    """The notifications emitted during the test: [(kind, beneficiary, data)]."""
    seen: list[tuple[str, str, dict]] = []

    def handler(kind, *, program_id, beneficiary, data):
        seen.append((kind, beneficiary, dict(data)))

    notification_handler_register(handler)
    yield seen
    _HANDLERS.remove(handler)


@pytest.fixture
def stripe_stub(settings):
    """The local Stripe stub (tests/rails/stub_servers.py) with the real stripe_connect rail
    pointed at it, whatever rail a test before registered under that name."""
    before = rail_get("stripe_connect")
    rail_register(StripeConnectRail())
    with StripeStub() as stub:
        settings.STRIPE_SECRET_KEY = stub.api_key
        settings.STRIPE_API_BASE = stub.url
        yield stub
    rail_register(before)
