"""Booking on PostgreSQL: the whole booking as one prepared statement, one round trip instead
of five or more, which writes everything or nothing and so needs neither a savepoint nor, on
its own, a transaction block. It writes exactly the rows `portable` writes (tested in
tests/ledger/test_reward_statement.py).

Riders. A caller may add rows of its own to the statement (reward_create adds the reward, its
history row, audit entry and outbox rows), so they exist exactly when the transaction does and
cost no round trip of their own. The contract with a rider:

- its CTEs run after the statement's own, only if the transaction row is written, and may
  select from TXN (one row: the transaction just written, columns TXN_COLUMNS) and from the
  rider's own earlier CTEs; no other name of the statement (OWN_NAMES, l0, l1..., p0, p1...);
- its audit entry and webhook events are rows of the statement too (RiderAudit, RiderEvent):
  the booking writes them (audit_record_sql, webhook_emit_sql) as CTEs named AUDITED and
  OUTBOX, and hands the outbox rows to delivery once the transaction commits;
- nothing at all is written unless its `guard` holds; then its `refusal` is raised;
- its `outputs` (SQL expressions) are read back into its `result`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, IntegrityError, connection
from django.db.models import Q

from config.platform.audit import audit_record_sql
from config.platform.db import prepared_cursor
from config.platform.models import Program
from config.platform.webhooks.services import webhook_dispatch_on_commit, webhook_emit_sql
from ledger.booking import totals
from ledger.booking.totals import Deltas, Line
from ledger.models import Account, Transaction

# --- the contract of the statement's names --------------------------------------------------

TXN = "txn"  # the transaction row, once written
TXN_COLUMNS = ("id", "program_id", "kind", "created_at")
AUDITED = "audited"  # a rider's audit entry (RiderAudit)
OUTBOX = "outbox"  # a rider's outbox rows (RiderEvent); columns: id
# Names the statement defines itself, besides l0, l1... and p0, p1... (one per account).
OWN_NAMES = frozenset({"locked", "v", "chk", "go", TXN, "upd", "ins", "audit", AUDITED, OUTBOX})
_PER_ACCOUNT_NAME = re.compile(r"[lp]\d+")


@dataclass(frozen=True)
class RiderAudit:
    """An audit entry, as audit_record writes it, for the row of the rider's CTE `source`:
    `object_id_sql` (text) and `after_sql` (jsonb) are expressions over its columns."""

    source: str
    actor: str
    action: str
    object_type: str
    object_id_sql: str
    after_sql: str
    reason: str = ""


@dataclass(frozen=True)
class RiderEvent:
    """A webhook event, as webhook_emit writes it (an outbox row per subscribed endpoint), for
    the row of the rider's CTE `source`; `payload_sql` is a jsonb expression over its columns."""

    source: str
    event_type: str
    payload_sql: str


@dataclass
class Rider:
    """Rows a booking statement writes along with its transaction (see the module's contract).
    `ctes` are (name, body) pairs."""

    ctes: list[tuple[str, str]]
    params: list[Any]
    outputs: list[str] = field(default_factory=list)
    guard: str = "TRUE"
    guard_params: list[Any] = field(default_factory=list)
    refusal: Exception | None = None
    audit: RiderAudit | None = None
    event: RiderEvent | None = None
    result: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        taken = [n for n, _ in self.ctes if n in OWN_NAMES or _PER_ACCOUNT_NAME.fullmatch(n)]
        if taken:
            raise ValueError(f"the booking statement defines {taken} itself")


class StaleAccount(RuntimeError):
    """The statement found an account other than the one it was given (ledger.accounts' cache
    held a stale one); it wrote nothing."""


def in_use() -> bool:
    """Whether bookings go through this statement (on PostgreSQL) rather than `portable`."""
    return connection.vendor == "postgresql"


def open_account(
    *, program: Program, code: str, kind: str, no_overdraft: bool, shards: int
) -> Account | None:
    """The account and its balance rows in one statement, which needs no savepoint: ON
    CONFLICT DO NOTHING makes a concurrent opening return None instead of failing."""
    account = Account(
        program=program,
        code=code,
        kind=kind,
        currency=program.currency,
        no_overdraft=no_overdraft,
        balance_shards=1 if no_overdraft else shards,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH a AS (INSERT INTO ledger_account (program_id, code, kind, currency,"
            " no_overdraft, balance_shards, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING id),"
            " b AS (INSERT INTO ledger_accountbalance (account_id, shard, posted_debits,"
            " posted_credits, pending_debits, pending_credits)"
            " SELECT a.id, s, 0, 0, 0, 0 FROM a CROSS JOIN generate_series(0, %s - 1) s)"
            " SELECT id FROM a",
            [
                program.pk,
                code,
                kind,
                account.currency,
                account.no_overdraft,
                account.balance_shards,
                account.created_at,
                account.balance_shards,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    account.pk = row[0]
    account._state.adding, account._state.db = False, connection.alias
    return account


def _fingerprint(account: Account) -> str:
    """What the statement checks an account row against (see ledger.accounts' cache)."""
    fields = ("program_id", "code", "kind", "no_overdraft", "balance_shards")
    return json.dumps([getattr(account, f) for f in fields])


# The statement text depends only on the number of accounts, which are sharded and which
# have no_overdraft (the lines travel as arrays), so a few prepared statements serve every
# booking. It stays within 4,096 characters and 50 parameters with reward_create's riders:
# psycopg caches its conversion of such a query, which otherwise costs 0.3 ms per call.
_IS_ACCOUNT = (
    "jsonb_build_array(a.program_id, a.code, a.kind, a.no_overdraft, a.balance_shards) = %s::jsonb"
)


def book(
    txn: Transaction,
    lines: list[Line],
    deltas: Deltas,
    *,
    actor: str,
    audit: dict[str, Any] | None,
    rider: Rider | None,
) -> Exception | None:
    """Write `txn`, its postings, the stored totals, its audit entry (`audit_record`'s
    keywords) and the rider's rows, or nothing:

    1. lock one balance row per account, in account-id order (each lock CTE waits for the
       previous one), so concurrent writers cannot deadlock. A sharded (hot) account takes
       any shard nobody holds (SKIP LOCKED) and waits on a random one only when all are busy.
       Each lock joins the account row and checks it is the account given;
    2. check every no_overdraft account on the row it has just locked (the newest version);
    3. only if all checks pass (and the rider's guard holds), insert the transaction; ON
       CONFLICT DO NOTHING turns a second post/void/reversal of the same transaction (unique
       resolves/reverses) into "nothing";
    4. only if the transaction was inserted, update the locked balance rows, insert the
       postings, the audit entry and the rider's rows (a reward...).
    Returns the refusal (InsufficientFunds, InvalidTransition, AlreadyReversed, the rider's
    refusal) or None; raises StaleAccount when an account is not the one given."""
    program = txn.program
    params: list[Any] = []
    ctes: list[str] = []
    ordered = sorted(deltas)
    for i, account_id in enumerate(ordered):
        account = deltas[account_id][0]
        after_previous = f" AND (SELECT count(*) FROM l{i - 1}) >= 0" if i else ""
        # Only a no_overdraft account is checked (elsewhere `need` is 0).
        if not account.no_overdraft:
            available = "0"
        elif account.debit_normal:
            available = "b.posted_debits - b.posted_credits - b.pending_credits"
        else:
            available = "b.posted_credits - b.posted_debits - b.pending_debits"
        if account.balance_shards == 1:
            ctes.append(
                f"l{i} AS MATERIALIZED (SELECT b.id, {available} AS available"
                " FROM ledger_accountbalance b JOIN ledger_account a ON a.id = b.account_id"
                f" WHERE b.account_id = %s AND b.shard = 0 AND {_IS_ACCOUNT}{after_previous}"
                " FOR UPDATE OF b)"
            )
        else:
            # The pick is materialised first and joined: were it a subquery in the WHERE, the
            # re-check after waiting on a lock (EvalPlanQual) could pick another shard and
            # drop the row.
            ctes.append(
                f"p{i} AS MATERIALIZED (SELECT COALESCE((SELECT id FROM ledger_accountbalance"
                " WHERE account_id = k.id ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED),"
                " (SELECT id FROM ledger_accountbalance WHERE account_id = k.id"
                " AND shard = k.shard)) AS id FROM (SELECT %s::bigint AS id,"
                f" floor(random() * {int(account.balance_shards)})::int AS shard) k"
                f" WHERE TRUE{after_previous})"
            )
            ctes.append(
                f"l{i} AS MATERIALIZED (SELECT b.id, {available} AS available"
                f" FROM ledger_accountbalance b JOIN p{i} ON b.id = p{i}.id"
                f" JOIN ledger_account a ON a.id = b.account_id WHERE {_IS_ACCOUNT}"
                " FOR UPDATE OF b)"
            )
        params += [account_id, _fingerprint(account)]
    n = len(ordered)
    ctes.append(
        "locked AS ("
        + " UNION ALL ".join(f"SELECT id, available, {i} AS n FROM l{i}" for i in range(n))
        + ")"
    )
    rows = [(*d, totals.need(a, *d)) for a, d in (deltas[account_id] for account_id in ordered)]
    ctes.append(
        "v AS (SELECT x.n - 1 AS n, pd, pc, qd, qc, need FROM unnest(%s::bigint[],"
        " %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])"
        " WITH ORDINALITY AS x (pd, pc, qd, qc, need, n))"
    )
    params += [[row[c] for row in rows] for c in range(5)]
    ctes.append(
        f"chk AS (SELECT count(*) = {n} AS complete, count(*) = {n}"
        " AND COALESCE(bool_and(l.available >= v.need OR v.need = 0), TRUE) AS ok,"
        " min(v.n) FILTER (WHERE l.available < v.need) AS short"
        " FROM locked l JOIN v USING (n))"
    )
    guard = "TRUE" if rider is None else rider.guard
    ctes.append(f"go AS (SELECT ok AND g AS ok, g AS allowed FROM chk, (SELECT {guard} AS g) q)")
    params += [] if rider is None else rider.guard_params
    ctes.append(
        f"{TXN} AS (INSERT INTO ledger_transaction (id, program_id, kind, resolves_id,"
        " reverses_id, description, metadata, reference, created_at)"
        " SELECT %s::uuid, %s, %s, %s::uuid, %s::uuid, %s, %s::jsonb, %s, %s::timestamptz"
        " WHERE (SELECT ok FROM go) ON CONFLICT DO NOTHING"
        f" RETURNING {', '.join(TXN_COLUMNS)})"
    )
    params += [
        txn.pk,
        txn.program_id,
        txn.kind,
        txn.resolves_id,
        txn.reverses_id,
        txn.description,
        json.dumps(txn.metadata, cls=DjangoJSONEncoder),
        txn.reference,
        txn.created_at,
    ]
    ctes.append(
        "upd AS (UPDATE ledger_accountbalance b SET"
        " posted_debits = b.posted_debits + v.pd, posted_credits = b.posted_credits + v.pc,"
        " pending_debits = b.pending_debits + v.qd, pending_credits = b.pending_credits + v.qc"
        f" FROM locked l JOIN v USING (n) WHERE b.id = l.id AND EXISTS (SELECT 1 FROM {TXN})"
        " RETURNING b.id)"
    )
    ctes.append(
        "ins AS (INSERT INTO ledger_posting (transaction_id, account_id, direction, amount,"
        " currency, kind, created_at)"
        f" SELECT {TXN}.id, x.account_id, x.direction, x.amount, x.currency, {TXN}.kind,"
        f" {TXN}.created_at FROM {TXN} CROSS JOIN unnest(%s::bigint[], %s::text[],"
        " %s::bigint[], %s::text[]) WITH ORDINALITY AS x (account_id, direction, amount,"
        " currency, i) ORDER BY x.i RETURNING id)"
    )
    params += [
        [a.pk for a, _, _ in lines],
        [d for _, d, _ in lines],
        [m for _, _, m in lines],
        [a.currency for a, _, _ in lines],
    ]
    if audit is not None:
        body, extra = audit_record_sql(source=TXN, program=program, actor=actor, **audit)
        ctes.append(f"audit AS ({body})")
        params += extra
    outputs = []
    if rider is not None:
        ctes += [f"{name} AS ({body})" for name, body in rider.ctes]
        params += rider.params
        outputs += rider.outputs
        if rider.audit is not None:
            a = rider.audit
            body, extra = audit_record_sql(
                source=a.source,
                program=program,
                actor=a.actor,
                action=a.action,
                object_type=a.object_type,
                object_id_sql=a.object_id_sql,
                after_sql=a.after_sql,
                reason=a.reason,
            )
            ctes.append(f"{AUDITED} AS ({body})")
            params += extra
        if rider.event is not None:
            e = rider.event
            body, extra = webhook_emit_sql(
                source=e.source, program=program, event_type=e.event_type, payload_sql=e.payload_sql
            )
            ctes.append(f"{OUTBOX} AS ({body})")
            params += extra
            outputs.append(f"(SELECT array_agg(id) FROM {OUTBOX})")
    sql = (
        f"WITH {', '.join(ctes)} SELECT complete, chk.ok, short, allowed,"
        f" (SELECT count(*) FROM {TXN}), (SELECT count(*) FROM upd),"
        " (SELECT count(*) FROM ins)" + "".join(f", {o}" for o in outputs) + " FROM chk, go"
    )
    with prepared_cursor() as cursor:
        try:
            cursor.execute(sql, params)
        except DataError as exc:
            # A stored total would pass the bigint maximum (SQLSTATE 22003): the statement wrote
            # nothing. Caught here rather than checked in the statement, which must stay short
            # enough for psycopg to cache. A caller inside a transaction block rolls back (every
            # caller that goes on after a refusal does so from a savepoint).
            if getattr(exc.__cause__, "sqlstate", None) != "22003":
                raise
            return totals.overflow(*[deltas[a][0] for a in ordered])
        complete, ok, short, allowed, inserted, updated, posted, *results = cursor.fetchone()
    if not complete:
        raise StaleAccount(f"account rows changed or missing for accounts {ordered}")
    if not ok:
        # A second reversal (or post/void) is refused as such, even when it would also lack
        # funds. This query's fresh snapshot sees a rival that committed while we waited.
        if (txn.reverses_id or txn.resolves_id) and Transaction.objects.filter(
            Q(reverses_id=txn.reverses_id) if txn.reverses_id else Q(resolves_id=txn.resolves_id)
        ).exists():
            return totals.conflict(txn.resolves, txn.reverses)
        if short is not None:
            return totals.insufficient(deltas[ordered[short]][0])
    if not allowed:
        refusal = None if rider is None else rider.refusal
        return refusal or IntegrityError("a rider's guard refused the booking")
    if not inserted:
        return totals.conflict(txn.resolves, txn.reverses)
    if updated != len(ordered) or posted != len(lines):
        raise RuntimeError(f"booking wrote {updated} balances and {posted} postings")
    if rider is not None:
        rider.result = tuple(results[: len(rider.outputs)])
        if rider.event is not None:
            webhook_dispatch_on_commit(results[-1] or [])
    return None
