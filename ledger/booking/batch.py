"""Booking many transactions at once on PostgreSQL: one statement for a whole batch, instead of
one per transaction (`postgres.book`). It writes, per transaction, exactly the rows
`postgres.book` writes (tested in tests/bulk/test_reward_batch.py), and the same stored totals
in aggregate: each account's balance row is locked once and updated by the sum of the batch's
deltas on it.

The contract with a caller (a "batch rider", e.g. rules.rewards' batch of rewards):

- TXN is the set of transaction rows just written (columns TXN_COLUMNS); every entry's
  transaction id is generated here beforehand (`Entry.txn.pk`), so a rider matches its own
  rows to them by id; the rider's CTEs may select from TXN and their own earlier CTEs only;
- nothing is written unless every check passes for the batch as a whole: all accounts are
  the ones given (else StaleAccount) and no no_overdraft account would be overdrawn by the
  batch's total on it (else BatchRefused, and the caller books item by item instead, where
  each item is refused or booked on its own); with `locks_last` the rows are written before
  the check, so the caller must roll its transaction back on either exception;
- `outputs` (SQL expressions) are read back in order; `first` CTEs run before any lock.

Locks: one balance row per account, taken in account-id order in one statement, as
`postgres.book` takes them, so a batch and single bookings cannot deadlock each other. A
sharded account's shard is chosen at random beforehand (a batch waits on it rather than
skipping to a free one). With `locks_last` (the reward batch) they are taken by the last
statement and held only for it and the COMMIT's WAL flush: the rows and their deferred
checks come before.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, connection
from django.utils import timezone

from config.platform.db import prepared_cursor
from config.platform.models import Program
from ledger.booking import totals
from ledger.booking.postgres import StaleAccount
from ledger.booking.totals import Line
from ledger.models import Account, Transaction

TXN = "txn"
TXN_COLUMNS = ("id", "program_id", "kind", "created_at")
OWN_NAMES = frozenset({"k", "locked", "chk", TXN, "upd", "ins"})


def rows_json(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as the jsonb document `jsonb_to_recordset` reads: uuids and datetimes as their
    text (str() keeps a datetime's microseconds, which DjangoJSONEncoder would cut)."""
    return json.dumps(list(rows), default=str, separators=(",", ":"))


class BatchRefused(Exception):
    """The batch as a whole would overdraw a no_overdraft account or overflow a stored
    total: nothing was written. Book its transactions one by one to refuse only those that
    must be."""


@dataclass(slots=True)
class NewTxn:
    """A new transaction to write, as the fields a Transaction would carry, without building a
    model instance (a batch of a thousand pays for each). `metadata` must be plain JSON."""

    pk: uuid.UUID
    kind: str
    description: str
    metadata: dict[str, Any]
    reference: str
    created_at: datetime
    resolves_id: None = None
    reverses_id: None = None


@dataclass(frozen=True)
class Entry:
    """One transaction of a batch: the (unsaved) transaction and its validated lines."""

    txn: Transaction | NewTxn
    lines: list[Line]


@dataclass
class BatchRider:
    """Rows a batch statement writes along with its transactions (see the module's
    contract). `ctes` are (name, body) pairs."""

    ctes: list[tuple[str, str]]
    params: list[Any]
    outputs: list[str] = field(default_factory=list)
    result: tuple[Any, ...] = ()
    # CTEs placed before the booking's own, with their params, the last a write that must be
    # done before any account is locked: e.g. claiming idempotency keys in the order single
    # requests take them (key, then balances), so that the two cannot deadlock. The locks
    # wait until it has run to its end.
    first: list[tuple[str, str]] = field(default_factory=list)
    first_params: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [n for n, _ in self.ctes + self.first]
        taken = [n for n in names if n in OWN_NAMES]
        if taken:
            raise ValueError(f"the batch statement defines {taken} itself")


def open_accounts(
    *, program: Program, codes: Sequence[str], kind: str, shards: int = 1
) -> dict[str, Account]:
    """Open the accounts (and their balance rows) that do not exist yet, in one statement,
    and return all of them by code (one more statement for those that did exist). Like
    `postgres.open_account`, a concurrent opening is not an error."""
    codes = sorted(set(codes))
    found: dict[str, Account] = {}
    if not codes:
        return found
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH a AS (INSERT INTO ledger_account (program_id, code, kind, currency,"
            " no_overdraft, balance_shards, created_at) SELECT %s, c, %s, %s, FALSE, %s, %s"
            " FROM unnest(%s::text[]) AS c ORDER BY c ON CONFLICT DO NOTHING"
            " RETURNING id, code, created_at),"
            " b AS (INSERT INTO ledger_accountbalance (account_id, shard, posted_debits,"
            " posted_credits, pending_debits, pending_credits)"
            " SELECT a.id, s, 0, 0, 0, 0 FROM a CROSS JOIN generate_series(0, %s - 1) s)"
            " SELECT id, code, created_at FROM a",
            [program.pk, kind, program.currency, shards, timezone.now(), codes, shards],
        )
        for pk, code, created_at in cursor.fetchall():
            account = Account(
                pk=pk,
                program=program,
                code=code,
                kind=kind,
                currency=program.currency,
                no_overdraft=False,
                balance_shards=shards,
                created_at=created_at,
            )
            account._state.adding, account._state.db = False, connection.alias
            found[code] = account
    rest = [c for c in codes if c not in found]
    if rest:
        found |= {a.code: a for a in Account.objects.filter(program=program, code__in=rest)}
    return found


def book_many(
    program: Program,
    entries: Sequence[Entry],
    *,
    rider: BatchRider | None,
    locks_last: bool = False,
) -> None:
    """Write every entry's transaction and postings, the stored totals and the rider's rows,
    in one statement, or nothing (raising StaleAccount or BatchRefused).

    locks_last: three statements instead, so that the balance rows are held for as short a
    time as a single booking holds them: `SET CONSTRAINTS ALL IMMEDIATE`; the rows (rider's
    first, transactions, postings, rider's), whose deferred checks (balanced transactions,
    foreign keys) then run at that statement's end rather than at COMMIT; and last the locks,
    the overdraft check and the stored totals. Batches sharing accounts queued for the whole
    booking and its COMMIT otherwise (measured: 6 of 8 backends waiting on a row lock). On
    StaleAccount or BatchRefused the rows are written already: the caller must roll the
    transaction back (its constraints stay IMMEDIATE until it ends)."""
    deltas: totals.Deltas = {}
    for entry in entries:
        for account_id, (account, d) in totals.balance_deltas(entry.txn.kind, entry.lines).items():
            total = deltas.setdefault(account_id, (account, [0, 0, 0, 0]))[1]
            for i in range(4):
                total[i] += d[i]
    ordered = sorted(deltas)
    accounts = [deltas[a][0] for a in ordered]
    sums = [deltas[a][1] for a in ordered]
    # The rows travel as one jsonb document per set (rows_json): psycopg dumps a string far
    # faster than it dumps a few thousand array elements.
    shards = [0 if a.balance_shards == 1 else random.randrange(a.balance_shards) for a in accounts]
    params: list[Any] = [
        rows_json(
            {
                "account_id": a.pk,
                "shard": shard,
                # What the row must still be (postgres._fingerprint, column by column).
                "program_id": a.program_id,
                "code": a.code,
                "kind": a.kind,
                "nod": a.no_overdraft,
                "shards": a.balance_shards,
                "dn": a.debit_normal,
                "pd": s[0],
                "pc": s[1],
                "qd": s[2],
                "qc": s[3],
                "need": totals.need(a, *s),
            }
            for a, s, shard in zip(accounts, sums, shards, strict=True)
        )
    ]
    ctes = [
        "k AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS k (account_id bigint, shard int,"
        " program_id bigint, code text, kind text, nod bool, shards int, dn bool, pd bigint,"
        " pc bigint, qd bigint, qc bigint, need bigint))",
        # One lock per account, in account-id order (the order postgres.book locks in). The
        # account rows are compared column by column: building a jsonb per row made the
        # planner hash-join a scan of every account of the ledger.
        "locked AS MATERIALIZED (SELECT b.id, k.account_id, k.need, CASE WHEN k.need = 0"
        " THEN 0 WHEN k.dn THEN b.posted_debits - b.posted_credits - b.pending_credits"
        " ELSE b.posted_credits - b.posted_debits - b.pending_debits END AS available"
        " FROM k JOIN ledger_accountbalance b ON b.account_id = k.account_id"
        " AND b.shard = k.shard JOIN ledger_account a ON a.id = b.account_id"
        " AND a.program_id = k.program_id AND a.code = k.code AND a.kind = k.kind"
        " AND a.no_overdraft = k.nod AND a.balance_shards = k.shards"
        + (
            # A one-time filter: evaluated, so the rider's first write done, before any row.
            f" WHERE (SELECT count(*) FROM {rider.first[-1][0]}) >= 0"
            if rider is not None and rider.first and not locks_last
            else ""
        )
        + " ORDER BY b.account_id FOR UPDATE OF b)",
        "chk AS (SELECT count(*) = %s AS complete, count(*) = %s"
        " AND COALESCE(bool_and(available >= need OR need = 0), TRUE) AS ok FROM locked)",
    ]
    params += [len(ordered), len(ordered)]
    if locks_last:
        # The locks' statement: k, locked, chk, then upd (below); the rows' statement: the rest.
        lock_ctes, lock_params = ctes, params
        ctes, params = [], []
    if rider is not None and rider.first:
        ctes[:0] = [f"{name} AS ({body})" for name, body in rider.first]
        params[:0] = rider.first_params
    txns = [e.txn for e in entries]
    txn_ids = [str(t.pk) for t in txns]
    ctes.append(
        f"{TXN} AS (INSERT INTO ledger_transaction (id, program_id, kind, resolves_id,"
        " reverses_id, description, metadata, reference, created_at)"
        " SELECT x.id, %s, x.kind, NULL, NULL, x.description, x.metadata, x.reference,"
        " x.created_at FROM jsonb_to_recordset(%s::jsonb) AS x (id uuid, kind text,"
        " description text, metadata jsonb, reference text, created_at timestamptz, n int)"
        + ("" if locks_last else " WHERE (SELECT ok FROM chk)")
        + " ORDER BY x.n"
        f" RETURNING {', '.join(TXN_COLUMNS)})"
    )
    if any(t.resolves_id or t.reverses_id for t in txns):
        raise ValueError("a batch books new transactions only (no post, void or reversal)")
    params += [
        program.pk,
        rows_json(
            {
                "id": txn_ids[n],
                "kind": t.kind,
                "description": t.description,
                "metadata": t.metadata
                if type(t) is NewTxn
                else json.loads(json.dumps(t.metadata, cls=DjangoJSONEncoder)),
                "reference": t.reference,
                "created_at": str(t.created_at),
                "n": n,
            }
            for n, t in enumerate(txns)
        ),
    ]
    upd = (
        "upd AS (UPDATE ledger_accountbalance b SET"
        " posted_debits = b.posted_debits + k.pd, posted_credits = b.posted_credits + k.pc,"
        " pending_debits = b.pending_debits + k.qd, pending_credits = b.pending_credits + k.qc"
        " FROM locked l JOIN k USING (account_id) WHERE b.id = l.id"
        + (" AND (SELECT ok FROM chk)" if locks_last else f" AND EXISTS (SELECT 1 FROM {TXN})")
        + " RETURNING b.id)"
    )
    if locks_last:
        lock_ctes.append(upd)
    else:
        ctes.append(upd)
    flat = [(txn_ids[n], *line) for n, e in enumerate(entries) for line in e.lines]
    ctes.append(
        "ins AS (INSERT INTO ledger_posting (transaction_id, account_id, direction, amount,"
        " currency, kind, created_at)"
        f" SELECT t.id, x.account_id, x.direction, x.amount, x.currency, t.kind, t.created_at"
        " FROM jsonb_to_recordset(%s::jsonb) AS x (txn_id uuid, account_id bigint,"
        f" direction text, amount bigint, currency text, i int)"
        f" JOIN {TXN} t ON t.id = x.txn_id ORDER BY x.i RETURNING id)"
    )
    params.append(
        rows_json(
            {
                "txn_id": f[0],
                "account_id": f[1].pk,
                "direction": f[2],
                "amount": f[3],
                "currency": f[1].currency,
                "i": i,
            }
            for i, f in enumerate(flat)
        )
    )
    outputs: list[str] = []
    if rider is not None:
        ctes += [f"{name} AS ({body})" for name, body in rider.ctes]
        params += rider.params
        outputs = rider.outputs
    if locks_last:
        rows_sql = (
            f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM {TXN}),"
            " (SELECT count(*) FROM ins)" + "".join(f", {o}" for o in outputs)
        )
        locks_sql = (
            f"WITH {', '.join(lock_ctes)} SELECT complete, ok, (SELECT count(*) FROM upd) FROM chk"
        )
        with prepared_cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(rows_sql, params)
            inserted, posted, *results = cursor.fetchone()
            try:
                cursor.execute(locks_sql, lock_params)
            except DataError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != "22003":
                    raise
                raise BatchRefused("a stored total would overflow") from None
            complete, ok, updated = cursor.fetchone()
    else:
        sql = (
            f"WITH {', '.join(ctes)} SELECT complete, ok, (SELECT count(*) FROM {TXN}),"
            " (SELECT count(*) FROM upd), (SELECT count(*) FROM ins)"
            + "".join(f", {o}" for o in outputs)
            + " FROM chk"
        )
        with prepared_cursor() as cursor:
            try:
                cursor.execute(sql, params)
            except DataError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != "22003":
                    raise
                raise BatchRefused("a stored total would overflow") from None
            complete, ok, inserted, updated, posted, *results = cursor.fetchone()
    if not complete:
        raise StaleAccount(f"account rows changed or missing for accounts {ordered}")
    if not ok:
        raise BatchRefused("the batch would overdraw a no_overdraft account")
    if inserted != len(txns) or updated != len(ordered) or posted != len(flat):
        raise RuntimeError(
            f"batch booking wrote {inserted} transactions, {updated} balances, {posted} postings"
        )
    for t in txns:
        if isinstance(t, Transaction):
            t._state.adding, t._state.db = False, connection.alias
    if rider is not None:
        rider.result = tuple(results)
