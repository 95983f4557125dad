"""The transactions the referral money domain owns (rewards, clawbacks, payouts, credits): the
books refuse to move them by hand (ledger.services.transactions.transaction_move). Registered
at start-up by RulesConfig.ready()."""

from __future__ import annotations

import re
from typing import Any

from ledger.services.transactions import TransactionOwner, transaction_owner_register
from rules.rewards.models import CreditEntry, PayoutItem, Reward


def _linked(model: Any, field: str) -> Any:
    return lambda ids: model.objects.filter(**{f"{field}__in": ids}).exists()


OWNERS = [
    TransactionOwner(
        kind="reward",
        instead="confirm or reverse the reward (POST P/rewards/{id}/confirm | reverse)",
        reference=re.compile(r"reward|reward:.*", re.S),
        linked=_linked(Reward, "transaction_id"),
    ),
    TransactionOwner(
        kind="clawback",
        instead="a clawback is final; book a new transaction to correct it",
        reference=re.compile(r"clawback:.*", re.S),
        linked=_linked(Reward, "clawback_transaction_id"),
    ),
    TransactionOwner(
        kind="payout",
        instead="a payout transfer moves only with its payout batch",
        reference=re.compile(r"payout:.*", re.S),
        linked=lambda ids: (
            _linked(PayoutItem, "transaction_id")(ids)
            or _linked(PayoutItem, "return_transaction_id")(ids)
        ),
    ),
    TransactionOwner(
        kind="credits",
        instead="apply a credits operation (POST P/credits) to correct a balance",
        reference=re.compile(r"credits:.*", re.S),
        linked=_linked(CreditEntry, "transaction_id"),
    ),
]


def register() -> None:
    for owner in OWNERS:
        transaction_owner_register(owner)
