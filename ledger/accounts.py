"""The chart of accounts: every account code the system names, how it is spelled, and which
codes the system opens itself; and the process's cache of accounts already used.

Codes are `type:segment[:segment...]`. A program has three accounts of its own, opened with it
(PROGRAM_ACCOUNTS); each user gets a rewards and a credits account on first use. Clients open
any other code through POST accounts, but never a reserved one: opened first with the wrong kind
or overdraft rule (say user:eve:credits without no_overdraft), it could be overdrawn. Modules
above the books spell these codes through the names here, never by hand.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import CharField, Expression, F, Value
from django.db.models.functions import Concat

from config.platform.exceptions import ValidationFailed
from config.platform.models import Program
from ledger.models import Account

ACCOUNT_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_.@-]+)+$")

# --- the chart ------------------------------------------------------------------------------

REWARDS_EXPENSE = "program:rewards_expense"  # the other side of every reward
PAYOUTS_CLEARING = "program:payouts_clearing"  # what payouts move out of users' rewards
CREDITS_ISSUED = "program:credits_issued"  # the other side of every credits movement

# The accounts every program has, with their kinds, opened with the program. They are hot
# (every reward touches the expense account), so their totals are spread over shards.
PROGRAM_ACCOUNTS: dict[str, str] = {
    REWARDS_EXPENSE: Account.Kind.EXPENSE,
    PAYOUTS_CLEARING: Account.Kind.LIABILITY,
    CREDITS_ISSUED: Account.Kind.EQUITY,
}
PROGRAM_ACCOUNT_SHARDS = 8


_USER_REWARDS = "user:{}:rewards"


def user_rewards_code(user_id: str) -> str:
    """A user's rewards account (liability): what the program owes them, until paid out."""
    return _USER_REWARDS.format(user_id)


def user_rewards_code_sql(user_id: Expression | F) -> Concat:
    """user_rewards_code as a database expression, of a column or an OuterRef."""
    before, after = _USER_REWARDS.split("{}")
    return Concat(Value(before), user_id, Value(after), output_field=CharField())


def user_credits_code(user_id: str) -> str:
    """A user's credits account (liability, no overdraft): credits they hold and may spend."""
    return f"user:{user_id}:credits"


def user_codes_prefix(user_id: str) -> str:
    """What every account code of one user starts with."""
    return f"user:{user_id}:"


# The codes above that the system opens itself (program:*, user:<id>:rewards|credits).
RESERVED_CODE_RE = re.compile(r"^(program:.+|user:[A-Za-z0-9_.@-]+:(rewards|credits))$")


def validate_code(code: str) -> None:
    if not ACCOUNT_CODE_RE.match(code):
        raise ValidationFailed(
            f"Account code {code!r} must look like 'user:alice:rewards' "
            "(lowercase type, then ':'-separated segments).",
            errors=[{"field": "code", "message": "invalid account code"}],
        )


# --- the cache ------------------------------------------------------------------------------

# Nothing updates or deletes an account, so once committed it never changes: each process keeps
# the ones it has used and a booking then needs no lookup (PostgreSQL, where it matters). Added
# only after commit, so an account whose creation is rolled back is never kept. The booking
# statement re-checks every account it locks (id, program, code, kind, shards, no_overdraft)
# and writes nothing on a mismatch (say, a recreated database); transaction_create then retries
# with fresh lookups after cache_forget.
_ACCOUNTS: dict[tuple[str, int, str], Account] = {}
_ACCOUNTS_MAX = 50_000
_ACCOUNTS_LOCK = threading.Lock()  # gthread workers share the cache


def cache_key(program_id: int, code: str) -> tuple[str, int, str]:
    return (connection.settings_dict["NAME"], program_id, code)


def cache_get(program: Program, code: str) -> Account | None:
    if connection.vendor != "postgresql":
        return None
    with _ACCOUNTS_LOCK:
        return _ACCOUNTS.get(cache_key(program.pk, code))


def cache_add(accounts: Iterable[Account]) -> None:
    """Keep these accounts once the current transaction commits."""
    if connection.vendor != "postgresql":
        return
    entries = [(cache_key(a.program_id, a.code), a) for a in accounts]

    def keep() -> None:
        with _ACCOUNTS_LOCK:
            for key, account in entries:
                while len(_ACCOUNTS) >= _ACCOUNTS_MAX:  # oldest first: dicts keep insertion order
                    _ACCOUNTS.pop(next(iter(_ACCOUNTS)), None)
                _ACCOUNTS[key] = account

    # robust: the effect is committed by now; a cache hiccup must not turn it into a 500.
    transaction.on_commit(keep, robust=True)


def cache_forget(program: Program) -> None:
    with _ACCOUNTS_LOCK:
        for key in [k for k in _ACCOUNTS if k[1] == program.pk]:
            _ACCOUNTS.pop(key, None)
