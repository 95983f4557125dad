"""A requested transaction's lines, and what every booking checks of them before it writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from config.platform.currencies import MAX_AMOUNT
from config.platform.exceptions import UnbalancedTransaction, ValidationFailed
from config.platform.models import Program
from ledger import accounts as chart
from ledger.models import CREDIT, DEBIT, Account

# The most postings one transaction may have (the commit-time balance check reads them all
# while the accounts' balance rows stay locked). The database refuses more too (0010).
MAX_POSTINGS = 500


@dataclass(frozen=True)
class PostingLine:
    """One requested posting: an account (by code or instance), a direction and an amount."""

    account: str | Account
    direction: str
    amount: int


def code_of(line: PostingLine) -> str:
    return line.account if isinstance(line.account, str) else line.account.code


def resolve_accounts(
    program: Program, lines: Sequence[PostingLine], *, fresh: bool = False
) -> dict[str, Account]:
    """Accounts by code: those given as instances, then the process's cache, then the database.
    `fresh` looks every one up in the database, instances included."""
    given = {ln.account.code: ln.account for ln in lines if isinstance(ln.account, Account)}
    if any(a.program_id != program.pk for a in given.values()):
        raise ValidationFailed("Every account must belong to the transaction's program.")
    if fresh:
        given = {}
    codes = {code_of(ln) for ln in lines}
    codes -= given.keys()
    found = dict(given)
    for code in () if fresh else codes:
        if (account := chart.cache_get(program, code)) is not None:
            found[code] = account
    if codes - found.keys():
        loaded = list(Account.objects.filter(program=program, code__in=codes - found.keys()))
        found |= {a.code: a for a in loaded}
        chart.cache_add(loaded)
    missing = sorted(codes - found.keys())
    if missing:
        raise ValidationFailed(
            f"Unknown account(s): {', '.join(missing)}. Create them with POST accounts first.",
            errors=[{"field": "postings", "message": f"unknown account {c}"} for c in missing],
        )
    return found


def check_lines(lines: Sequence[PostingLine], accounts: dict[str, Account]) -> None:
    if len(lines) < 2:
        raise ValidationFailed(
            "A transaction needs at least two postings.",
            errors=[{"field": "postings", "message": "at least two postings are required"}],
        )
    if len(lines) > MAX_POSTINGS:
        raise ValidationFailed(
            f"A transaction has at most {MAX_POSTINGS} postings ({len(lines)} given).",
            errors=[{"field": "postings", "message": f"at most {MAX_POSTINGS} postings"}],
        )
    sums: dict[str, int] = defaultdict(int)
    for i, ln in enumerate(lines):
        if type(ln.amount) is not int or ln.amount <= 0:
            raise ValidationFailed(
                "Amounts are positive integers in minor units.",
                errors=[{"field": f"postings.{i}.amount", "message": "must be a positive integer"}],
            )
        if ln.amount > MAX_AMOUNT:
            raise ValidationFailed(
                f"An amount is at most {MAX_AMOUNT} minor units (the money limit).",
                errors=[{"field": f"postings.{i}.amount", "message": f"at most {MAX_AMOUNT}"}],
            )
        if ln.direction not in (DEBIT, CREDIT):
            raise ValidationFailed(
                "Direction is 'debit' or 'credit'.",
                errors=[{"field": f"postings.{i}.direction", "message": "must be debit or credit"}],
            )
        account = accounts[code_of(ln)]
        sums[account.currency] += ln.amount if ln.direction == DEBIT else -ln.amount
    unbalanced = {cur: diff for cur, diff in sums.items() if diff}
    if unbalanced:
        detail = ", ".join(f"{cur}: debits exceed credits by {d}" for cur, d in unbalanced.items())
        raise UnbalancedTransaction(f"Debits and credits must be equal per currency ({detail}).")
