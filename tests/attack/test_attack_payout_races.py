"""Confirming and failing one payout item from many connections at once (SPEC section 13): one
outcome, at most one return transfer, and nothing but the lifecycle's own refusals."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from config.platform.exceptions import InvalidTransition
from ledger.models import Transaction
from rules.rewards.models import PayoutItem, Reward
from rules.rewards.services import payout_items, payouts
from tests.payouts.conftest import approved, earned, participant  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_racing_confirms_and_fails_settle_an_item_once(program, earned, approved):  # noqa: F811
    earned("carol", 5000)
    batch = approved(["carol"])
    payouts.payout_batch_execute(batch=batch, actor="user:otto")
    item = batch.items.get()
    barrier = threading.Barrier(10)
    unexpected: list[BaseException] = []

    def act(n: int) -> None:
        try:
            barrier.wait()
            if n % 2:
                payout_items.payout_item_fail(batch=batch, item=item, reason="bounced", actor="a")
            else:
                payout_items.payout_item_confirm(batch=batch, item=item, actor="a")
        except InvalidTransition:
            pass
        except BaseException as exc:  # any other error is the finding
            unexpected.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=act, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert unexpected == []
    item.refresh_from_db()
    returns = Transaction.objects.filter(metadata__payout_item=item.pk, metadata__returned=True)
    reward = Reward.objects.get(beneficiary="carol")
    if item.status == PayoutItem.Status.FAILED:
        assert returns.count() == 1 and reward.status == Reward.Status.CONFIRMED
    else:
        assert item.status == PayoutItem.Status.PAID
        assert returns.count() == 0 and reward.status == Reward.Status.PAID
