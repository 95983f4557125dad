"""Reconciliation: integrity checks over the whole ledger (SPEC §8).

Each check is a function ``fn(program | None) -> list[finding]`` registered with
``@register_check(name)``; a finding is ``{"check", "object_type", "object_id", "message",
"expected", "actual"}``. Checks work in SQL aggregates (GROUP BY over postings and balance
shards), never by loading rows into Python, so a run stays one scan per table however large the
ledger grows. ``reconciliation_run`` runs every registered check and reports
``clean`` or ``discrepancies``.

The ledger checks live here; reward and payout checks are registered by
``rules.rewards.services.reconciliation`` (imported at the bottom).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction

from config.db_router import replica_connection_alias, replica_reads
from config.platform.models import Program
from ledger.selectors import POSTED_KINDS

logger = logging.getLogger(__name__)

Finding = dict[str, Any]
CheckFn = Callable[[Program | None], list[Finding]]
# progress(check_name, checks_done, checks_total), called after each check.
Progress = Callable[[str, int, int], None]

_CHECKS: dict[str, CheckFn] = {}


def register_check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn(program | None) -> list[finding]`` as a reconciliation check."""

    def decorator(fn: CheckFn) -> CheckFn:
        _CHECKS[name] = fn
        return fn

    return decorator


def registered_checks() -> list[str]:
    return list(_CHECKS)


@dataclass
class ReconciliationReport:
    checks: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "discrepancies" if self.findings else "clean"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checks": self.checks, "findings": self.findings}


def reconciliation_run(
    *, program: Program | None = None, progress: Progress | None = None
) -> ReconciliationReport:
    """Run every registered check (for one program, or the whole ledger)."""
    report = ReconciliationReport()
    total = len(_CHECKS)
    for done, (name, check) in enumerate(list(_CHECKS.items()), start=1):
        findings = [_storable({"check": name, **f}) for f in _checked(name, check, program)]
        report.checks.append(
            {
                "name": name,
                "status": "discrepancies" if findings else "clean",
                "findings": len(findings),
            }
        )
        report.findings += findings
        if progress is not None:
            progress(name, done, total)
    return report


def _checked(name: str, check: CheckFn, program: Program | None) -> list[Finding]:
    """A check's findings. A check that fails (say, on data too corrupt for its query) is a
    finding itself: the run still completes, is stored and says which check could not run."""
    try:
        # The checks read the replica when there is one (a consistent, lag-tolerant view);
        # a savepoint there: a failed query must not end the run's work.
        with replica_reads() as db, transaction.atomic(using=db):
            return check(program)
    except Exception as exc:
        logger.exception("reconciliation check %s failed", name)
        return [
            {
                "object_type": "check",
                "object_id": name,
                "message": f"the check could not run: {type(exc).__name__}: {exc}",
                "expected": "the check runs",
                "actual": "error",
            }
        ]


def _storable(finding: Finding) -> Finding:
    """A finding as plain JSON (ids, times and decimals become strings or numbers), so every
    finding of every check can be stored in the run's JSON column and shown by the API, the
    admin and the command."""
    return json.loads(json.dumps(finding, cls=_FindingEncoder))


class _FindingEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)  # anything else a check may return: shown as text, never a crash


def _rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with connections[replica_connection_alias()].cursor() as cursor:
        cursor.execute(sql, params)
        cols = [c[0] for c in cursor.description]
        # PostgreSQL sums bigints as numeric: findings carry plain integers (JSON-friendly).
        return [
            {c: int(v) if isinstance(v, Decimal) else v for c, v in zip(cols, row, strict=True)}
            for row in cursor.fetchall()
        ]


def _program_filter(program: Program | None, column: str) -> tuple[str, list[Any]]:
    if program is None:
        return "", []
    return f" AND {column} = %s", [program.pk]


def _uuid(value: Any) -> str:
    """Transaction ids as UUID text on every backend (SQLite stores them as bare hex)."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


# SQL fragment: a posting's signed amount (debits positive).
SIGNED = "CASE WHEN p.direction = 'debit' THEN p.amount ELSE -p.amount END"


@register_check("transactions_balanced")
def check_transactions_balanced(program: Program | None) -> list[Finding]:
    """Every transaction has two or more postings, and its debits equal its credits per
    currency."""
    where, params = _program_filter(program, "t.program_id")
    unbalanced = _rows(
        f"""
        SELECT p.transaction_id AS txn, p.currency AS currency, SUM({SIGNED}) AS diff
          FROM ledger_posting p JOIN ledger_transaction t ON t.id = p.transaction_id
         WHERE 1 = 1 {where}
         GROUP BY p.transaction_id, p.currency
        HAVING SUM({SIGNED}) <> 0
        """,
        params,
    )
    too_few = _rows(
        f"""
        SELECT t.id AS txn, COUNT(p.id) AS n
          FROM ledger_transaction t LEFT JOIN ledger_posting p ON p.transaction_id = t.id
         WHERE 1 = 1 {where}
         GROUP BY t.id
        HAVING COUNT(p.id) < 2
        """,
        params,
    )
    return [
        {
            "object_type": "transaction",
            "object_id": _uuid(r["txn"]),
            "message": f"debits minus credits is {r['diff']} {r['currency']}",
            "expected": 0,
            "actual": r["diff"],
        }
        for r in unbalanced
    ] + [
        {
            "object_type": "transaction",
            "object_id": _uuid(r["txn"]),
            "message": f"transaction has {r['n']} posting(s); at least two are required",
            "expected": ">= 2",
            "actual": r["n"],
        }
        for r in too_few
    ]


@register_check("debits_equal_credits")
def check_debits_equal_credits(program: Program | None) -> list[Finding]:
    """Σ debits = Σ credits per currency: per program, and over the whole ledger."""
    where, params = _program_filter(program, "a.program_id")
    per_program = _rows(
        f"""
        SELECT a.program_id AS program_id, p.currency AS currency,
               SUM(CASE WHEN p.direction = 'debit' THEN p.amount ELSE 0 END) AS debits,
               SUM(CASE WHEN p.direction = 'credit' THEN p.amount ELSE 0 END) AS credits
          FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id
         WHERE 1 = 1 {where}
         GROUP BY a.program_id, p.currency
        HAVING SUM({SIGNED}) <> 0
        """,
        params,
    )
    findings = [
        {
            "object_type": "program",
            "object_id": str(r["program_id"]),
            "message": f"{r['currency']}: debits {r['debits']} ≠ credits {r['credits']}",
            "expected": r["debits"],
            "actual": r["credits"],
        }
        for r in per_program
    ]
    if program is None:
        overall = _rows(
            f"""
            SELECT p.currency AS currency,
                   SUM(CASE WHEN p.direction = 'debit' THEN p.amount ELSE 0 END) AS debits,
                   SUM(CASE WHEN p.direction = 'credit' THEN p.amount ELSE 0 END) AS credits
              FROM ledger_posting p
             GROUP BY p.currency
            HAVING SUM({SIGNED}) <> 0
            """,
            [],
        )
        findings += [
            {
                "object_type": "ledger",
                "object_id": r["currency"],
                "message": f"{r['currency']}: debits {r['debits']} ≠ credits {r['credits']}",
                "expected": r["debits"],
                "actual": r["credits"],
            }
            for r in overall
        ]
    return findings


_TOTALS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits")


@register_check("stored_totals_match_postings")
def check_stored_totals(program: Program | None) -> list[Finding]:
    """Every account's stored totals (the sum of its balance shards) equal what its postings
    add up to. Posted totals: posted, post and reversal postings. Pending totals: pending
    postings less the copies that post or void them."""
    where, params = _program_filter(program, "a.program_id")
    posted = "('" + "','".join(POSTED_KINDS) + "')"

    def side(direction: str) -> str:
        return f"""
            SUM(CASE WHEN p.direction = '{direction}' AND p.kind IN {posted}
                     THEN p.amount ELSE 0 END) AS posted_{direction}s,
            SUM(CASE WHEN p.direction = '{direction}' AND p.kind = 'pending' THEN p.amount
                     WHEN p.direction = '{direction}' AND p.kind IN ('post', 'void')
                     THEN -p.amount ELSE 0 END) AS pending_{direction}s"""

    rows = _rows(
        f"""
        WITH from_postings AS (
            SELECT p.account_id, {side("debit")}, {side("credit")}
              FROM ledger_posting p
             GROUP BY p.account_id
        ), stored AS (
            SELECT b.account_id,
                   SUM(b.posted_debits) AS posted_debits,
                   SUM(b.posted_credits) AS posted_credits,
                   SUM(b.pending_debits) AS pending_debits,
                   SUM(b.pending_credits) AS pending_credits,
                   COUNT(*) AS shards
              FROM ledger_accountbalance b
             GROUP BY b.account_id
        )
        SELECT a.id, a.code, a.program_id,
               {", ".join(f"COALESCE(f.{c}, 0) AS e_{c}" for c in _TOTALS)},
               {", ".join(f"COALESCE(s.{c}, 0) AS s_{c}" for c in _TOTALS)},
               COALESCE(s.shards, 0) AS shards
          FROM ledger_account a
          LEFT JOIN from_postings f ON f.account_id = a.id
          LEFT JOIN stored s ON s.account_id = a.id
         WHERE ({" OR ".join(f"COALESCE(f.{c}, 0) <> COALESCE(s.{c}, 0)" for c in _TOTALS)}
                OR COALESCE(s.shards, 0) = 0) {where}
         ORDER BY a.id
        """,
        params,
    )
    findings = []
    for r in rows:  # only the accounts that differ
        expected = {c: r[f"e_{c}"] for c in _TOTALS}
        actual = {c: r[f"s_{c}"] for c in _TOTALS}
        wrong = [c for c in _TOTALS if expected[c] != actual[c]]
        message = (
            f"{r['code']}: stored {', '.join(wrong)} differ from the postings"
            if wrong
            else f"{r['code']}: no stored balance row"
        )
        findings.append(
            {
                "object_type": "account",
                "object_id": r["code"],
                "message": message,
                "expected": expected,
                "actual": actual,
            }
        )
    return findings


@register_check("no_overdraft_respected")
def check_no_overdraft(program: Program | None) -> list[Finding]:
    """A no_overdraft account's available balance (posted, less pending outflows) is never
    negative."""
    where, params = _program_filter(program, "a.program_id")
    rows = _rows(
        f"""
        SELECT a.code,
               CASE WHEN a.kind IN ('asset', 'expense')
                    THEN SUM(b.posted_debits) - SUM(b.posted_credits) - SUM(b.pending_credits)
                    ELSE SUM(b.posted_credits) - SUM(b.posted_debits) - SUM(b.pending_debits)
               END AS available
          FROM ledger_account a JOIN ledger_accountbalance b ON b.account_id = a.id
         WHERE a.no_overdraft {where}
         GROUP BY a.id, a.code, a.kind
        HAVING CASE WHEN a.kind IN ('asset', 'expense')
                    THEN SUM(b.posted_debits) - SUM(b.posted_credits) - SUM(b.pending_credits)
                    ELSE SUM(b.posted_credits) - SUM(b.posted_debits) - SUM(b.pending_debits)
               END < 0
        """,
        params,
    )
    return [
        {
            "object_type": "account",
            "object_id": r["code"],
            "message": f"{r['code']} forbids overdraft but its available balance is "
            f"{r['available']}",
            "expected": ">= 0",
            "actual": r["available"],
        }
        for r in rows
    ]


@register_check("posting_currency_matches_account")
def check_posting_currency(program: Program | None) -> list[Finding]:
    """Every posting is in its account's currency (the database refuses any other since
    migration 0010; older rows, or rows written with triggers off, are caught here)."""
    where, params = _program_filter(program, "a.program_id")
    rows = _rows(
        f"""
        SELECT p.id AS posting, p.transaction_id AS txn, p.currency AS currency,
               a.code AS code, a.currency AS account_currency
          FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id
         WHERE p.currency <> a.currency {where}
         ORDER BY p.id
        """,
        params,
    )
    return [
        {
            "object_type": "posting",
            "object_id": str(r["posting"]),
            "message": f"posting of transaction {_uuid(r['txn'])} is in {r['currency']} but "
            f"account {r['code']} is in {r['account_currency']}",
            "expected": r["account_currency"],
            "actual": r["currency"],
        }
        for r in rows
    ]
