"""Accounts and transactions: the only code that writes postings and balances."""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from config.platform.audit import audit_record, audit_record_sql
from config.platform.currencies import MAX_AMOUNT
from config.platform.db import prepared_cursor
from config.platform.exceptions import (
    AlreadyExists,
    AlreadyReversed,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidTransition,
    NotFound,
    UnbalancedTransaction,
    ValidationFailed,
)
from config.platform.models import Program
from ledger.models import CREDIT, DEBIT, Account, AccountBalance, Posting, Transaction

ACCOUNT_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_.@-]+)+$")
# Codes the system opens itself with a fixed kind and overdraft rule; a client opening one first
# (say user:eve:credits without no_overdraft) could otherwise overdraw it.
RESERVED_CODE_RE = re.compile(r"^(program:.+|user:[A-Za-z0-9_.@-]+:(rewards|credits))$")
Kind = Transaction.Kind

# The most postings one transaction may have (the commit-time balance check reads them all
# while the accounts' balance rows stay locked). The database refuses more too (0010).
MAX_POSTINGS = 500
_BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True)
class TransactionOwner:
    """A lifecycle above the books that owns the transactions it books (a reward, a payout...).
    Its transactions carry a reference naming it, and only its own service moves them (post,
    void, reverse): the generic endpoints refuse them (transaction_move), and so does the
    database at commit (0010). Owners register at start-up (their app's ready())."""

    kind: str  # "reward", "payout", ...
    instead: str  # what to do instead of moving such a transaction by hand
    reference: re.Pattern[str]  # the references its transactions carry
    linked: Callable[[list[Any]], bool]  # a second witness: rows of its own linking these ids


_OWNERS: dict[str, TransactionOwner] = {}


def transaction_owner_register(owner: TransactionOwner) -> None:
    _OWNERS[owner.kind] = owner


@dataclass(frozen=True)
class PostingLine:
    """One requested posting: an account (by code or instance), a direction and an amount."""

    account: str | Account
    direction: str
    amount: int


@dataclass
class Rider:
    """Rows a booking statement writes along with its transaction (PostgreSQL), so they exist
    exactly when the transaction does and cost no round trip of their own: reward_create's
    reward, history row, audit entry and outbox rows. `ctes` are (name, body) pairs that run
    only if the transaction is written; each body selects FROM txn (columns id, created_at) or
    from an earlier rider CTE. Nothing at all is written unless `guard` also holds; then
    `refusal` is raised. `outputs` are SQL expressions read back into `result`."""

    ctes: list[tuple[str, str]]
    params: list[Any]
    outputs: list[str]
    guard: str = "TRUE"
    guard_params: list[Any] = field(default_factory=list)
    refusal: Exception | None = None
    result: tuple[Any, ...] = ()


class BalanceOverflow(ValidationFailed):
    """The booking would take an account's stored totals past what a bigint holds."""


class StaleAccount(RuntimeError):
    """A booking statement found an account other than the one it was given (see
    `_remember`); it wrote nothing."""


# --- accounts -----------------------------------------------------------------------------


def _validate_code(code: str) -> None:
    if not ACCOUNT_CODE_RE.match(code):
        raise ValidationFailed(
            f"Account code {code!r} must look like 'user:alice:rewards' "
            "(lowercase type, then ':'-separated segments).",
            errors=[{"field": "code", "message": "invalid account code"}],
        )


def _create_account(
    *, program: Program, code: str, kind: str, no_overdraft: bool, shards: int
) -> Account:
    account = Account.objects.create(
        program=program,
        code=code,
        kind=kind,
        currency=program.currency,
        no_overdraft=no_overdraft,
        balance_shards=1 if no_overdraft else shards,
    )
    AccountBalance.objects.bulk_create(
        AccountBalance(account=account, shard=s) for s in range(account.balance_shards)
    )
    return account


def account_create(
    *,
    program: Program,
    code: str,
    kind: str,
    currency: str,
    no_overdraft: bool = False,
    actor: str = "system",
) -> Account:
    _validate_code(code)
    if RESERVED_CODE_RE.match(code):
        raise ValidationFailed(
            f"Account code {code!r} is reserved: the system opens program:* accounts and "
            "user:<id>:rewards / user:<id>:credits itself.",
            errors=[{"field": "code", "message": "reserved account code"}],
        )
    if kind not in Account.Kind.values:
        raise ValidationFailed(f"Unknown account kind {kind!r}.")
    if currency != program.currency:
        raise CurrencyMismatch(
            f"Account currency {currency} differs from the program's currency {program.currency}."
        )
    try:
        with transaction.atomic():
            account = _create_account(
                program=program, code=code, kind=kind, no_overdraft=no_overdraft, shards=1
            )
            audit_record(
                program=program,
                actor=actor,
                action="account.created",
                object_type="account",
                object_id=code,
                after={"kind": kind, "currency": currency, "no_overdraft": no_overdraft},
            )
    except IntegrityError:
        raise AlreadyExists(f"An account with code {code!r} already exists.") from None
    return account


# Nothing updates or deletes an account, so once committed it never changes: each process keeps
# the ones it has used and a booking then needs no lookup (PostgreSQL, where it matters). Added
# only after commit, so an account whose creation is rolled back is never kept. The booking
# statement re-checks every account it locks (id, program, code, kind, shards, no_overdraft)
# and writes nothing on a mismatch (say, a recreated database); transaction_create then retries
# with fresh lookups.
_ACCOUNTS: dict[tuple[str, int, str], Account] = {}
_ACCOUNTS_MAX = 50_000
_ACCOUNTS_LOCK = threading.Lock()  # gthread workers share the cache


def _cache_key(program_id: int, code: str) -> tuple[str, int, str]:
    return (connection.settings_dict["NAME"], program_id, code)


def _cached(program: Program, code: str) -> Account | None:
    if connection.vendor != "postgresql":
        return None
    with _ACCOUNTS_LOCK:
        return _ACCOUNTS.get(_cache_key(program.pk, code))


def _remember(accounts: Iterable[Account]) -> None:
    if connection.vendor != "postgresql":
        return
    entries = [(_cache_key(a.program_id, a.code), a) for a in accounts]

    def keep() -> None:
        with _ACCOUNTS_LOCK:
            for key, account in entries:
                while len(_ACCOUNTS) >= _ACCOUNTS_MAX:  # oldest first: dicts keep insertion order
                    _ACCOUNTS.pop(next(iter(_ACCOUNTS)), None)
                _ACCOUNTS[key] = account

    # robust: the effect is committed by now; a cache hiccup must not turn it into a 500.
    transaction.on_commit(keep, robust=True)


def _forget(program: Program) -> None:
    with _ACCOUNTS_LOCK:
        for key in [k for k in _ACCOUNTS if k[1] == program.pk]:
            _ACCOUNTS.pop(key, None)


def account_get_or_create(
    *, program: Program, code: str, kind: str, no_overdraft: bool = False, shards: int = 1
) -> Account:
    """For accounts the system opens on first use (a user's rewards or credits)."""
    account = _cached(program, code) or Account.objects.filter(program=program, code=code).first()
    if account is None:
        _validate_code(code)
        if connection.vendor == "postgresql":
            account = _open_pg(
                program=program, code=code, kind=kind, no_overdraft=no_overdraft, shards=shards
            )
        else:
            try:
                with transaction.atomic():
                    account = _create_account(
                        program=program,
                        code=code,
                        kind=kind,
                        no_overdraft=no_overdraft,
                        shards=shards,
                    )
            except IntegrityError:
                account = None
        if account is None:  # opened concurrently
            account = Account.objects.get(program=program, code=code)
    if account.kind != kind or account.no_overdraft != no_overdraft:
        raise AlreadyExists(
            f"Account {code} already exists as a {account.kind} account with "
            f"no_overdraft={account.no_overdraft}; the system needs a {kind} account with "
            f"no_overdraft={no_overdraft}."
        )
    _remember([account])
    return account


def _open_pg(
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


# --- booking --------------------------------------------------------------------------------


def _resolve_accounts(
    program: Program, lines: Sequence[PostingLine], *, fresh: bool = False
) -> dict[str, Account]:
    """Accounts by code: those given as instances, then the process's cache, then the database.
    `fresh` looks every one up in the database, instances included."""
    given = {ln.account.code: ln.account for ln in lines if isinstance(ln.account, Account)}
    if any(a.program_id != program.pk for a in given.values()):
        raise ValidationFailed("Every account must belong to the transaction's program.")
    if fresh:
        given = {}
    codes = {ln.account if isinstance(ln.account, str) else ln.account.code for ln in lines}
    codes -= given.keys()
    found = dict(given)
    for code in () if fresh else codes:
        if (account := _cached(program, code)) is not None:
            found[code] = account
    if codes - found.keys():
        loaded = list(Account.objects.filter(program=program, code__in=codes - found.keys()))
        found |= {a.code: a for a in loaded}
        _remember(loaded)
    missing = sorted(codes - found.keys())
    if missing:
        raise ValidationFailed(
            f"Unknown account(s): {', '.join(missing)}. Create them with POST accounts first.",
            errors=[{"field": "postings", "message": f"unknown account {c}"} for c in missing],
        )
    return found


def _check_lines(lines: Sequence[PostingLine], accounts: dict[str, Account]) -> None:
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
        account = accounts[ln.account if isinstance(ln.account, str) else ln.account.code]
        sums[account.currency] += ln.amount if ln.direction == DEBIT else -ln.amount
    unbalanced = {cur: diff for cur, diff in sums.items() if diff}
    if unbalanced:
        detail = ", ".join(f"{cur}: debits exceed credits by {d}" for cur, d in unbalanced.items())
        raise UnbalancedTransaction(f"Debits and credits must be equal per currency ({detail}).")


def _balance_deltas(
    kind: str, lines: Iterable[tuple[Account, str, int]]
) -> dict[int, tuple[Account, list[int]]]:
    """Per account: [Δposted_debits, Δposted_credits, Δpending_debits, Δpending_credits]."""
    deltas: dict[int, tuple[Account, list[int]]] = {}
    for account, direction, amount in lines:
        d = deltas.setdefault(account.pk, (account, [0, 0, 0, 0]))[1]
        side = 0 if direction == DEBIT else 1
        if kind in (Kind.POSTED, Kind.REVERSAL):
            d[side] += amount
        elif kind == Kind.PENDING:
            d[2 + side] += amount
        elif kind == Kind.POST:
            d[side] += amount
            d[2 + side] -= amount
        elif kind == Kind.VOID:
            d[2 + side] -= amount
    return deltas


def _need(account: Account, pd: int, pc: int, qd: int, qc: int) -> int:
    """How much a move lowers a no_overdraft account's available balance (posted balance less
    pending outflows); 0 when it does not lower it, or the account may go negative."""
    if not account.no_overdraft:
        return 0
    need = pc + qc - pd if account.debit_normal else pd + qd - pc
    return max(need, 0)


def _insufficient(account: Account) -> InsufficientFunds:
    return InsufficientFunds(
        f"Account {account.code} does not allow overdraft and lacks the funds for this move."
    )


_TOTAL_COLUMNS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits")


def _overflow(*accounts: Account) -> BalanceOverflow:
    codes = ", ".join(a.code for a in accounts)
    return BalanceOverflow(
        f"This move would take the stored totals of {codes} past the largest amount the ledger "
        f"holds ({_BIGINT_MAX} minor units); nothing was written.",
        errors=[{"field": "postings", "message": f"{codes}: balance limit exceeded"}],
    )


def _conflict(resolves: Transaction | None, reverses: Transaction | None) -> Exception:
    if reverses is not None:
        return AlreadyReversed(f"Transaction {reverses.pk} already has a reversal.")
    if resolves is not None:
        return InvalidTransition(f"Pending transaction {resolves.pk} is already resolved.")
    return IntegrityError("transaction id collision")


def _book_orm(
    txn: Transaction, lines: list[tuple[Account, str, int]], deltas: dict[int, Any]
) -> None:
    """Portable booking (SQLite): the caller's savepoint undoes a partial write on error."""
    try:
        with transaction.atomic():
            txn.save(force_insert=True)
    except IntegrityError:
        rival = (Q(resolves_id=txn.resolves_id) if txn.resolves_id else Q(pk__in=[])) | (
            Q(reverses_id=txn.reverses_id) if txn.reverses_id else Q(pk__in=[])
        )
        if not Transaction.objects.filter(rival).exists():
            raise  # not a second post/void/reversal: another rule of the database refused it
        raise _conflict(txn.resolves, txn.reverses) from None
    # A fixed order (account id) so concurrent writers cannot deadlock.
    for account_id in sorted(deltas):
        account, (pd, pc, qd, qc) = deltas[account_id]
        shard = 0 if account.balance_shards == 1 else random.randrange(account.balance_shards)
        qs = AccountBalance.objects.filter(account_id=account_id, shard=shard)
        # Totals that grow stay within a bigint (SQLite would silently turn them into floats).
        room = {
            f"{column}__lte": _BIGINT_MAX - delta
            for column, delta in zip(_TOTAL_COLUMNS, (pd, pc, qd, qc), strict=True)
            if delta > 0
        }
        if room and not qs.filter(**room).exists():
            raise _overflow(account)
        need = _need(account, pd, pc, qd, qc)
        if need:
            if account.debit_normal:
                available = F("posted_debits") - F("posted_credits") - F("pending_credits")
            else:
                available = F("posted_credits") - F("posted_debits") - F("pending_debits")
            qs = qs.filter(GreaterThanOrEqual(available, need))
        updated = qs.update(
            posted_debits=F("posted_debits") + pd,
            posted_credits=F("posted_credits") + pc,
            pending_debits=F("pending_debits") + qd,
            pending_credits=F("pending_credits") + qc,
        )
        if not updated:
            raise _insufficient(account)
    Posting.objects.bulk_create(
        Posting(
            transaction=txn,
            account=account,
            direction=direction,
            amount=amount,
            currency=account.currency,
            kind=txn.kind,
            created_at=txn.created_at,
        )
        for account, direction, amount in lines
    )


def _fingerprint(account: Account) -> str:
    """What the booking statement checks an account row against (see `_remember`)."""
    fields = ("program_id", "code", "kind", "no_overdraft", "balance_shards")
    return json.dumps([getattr(account, f) for f in fields])


# The statement text depends only on the number of accounts, which are sharded and which
# have no_overdraft (the lines travel as arrays), so a few prepared statements serve every
# booking. It stays within 4,096 characters and 50 parameters with reward_create's riders:
# psycopg caches its conversion of such a query, which otherwise costs 0.3 ms per call.
_IS_ACCOUNT = (
    "jsonb_build_array(a.program_id, a.code, a.kind, a.no_overdraft, a.balance_shards) = %s::jsonb"
)


def _book_pg(
    txn: Transaction,
    lines: list[tuple[Account, str, int]],
    deltas: dict[int, Any],
    riders: Sequence[Rider],
) -> Exception | None:
    """The whole booking as one prepared statement (one round trip instead of five or more),
    which either writes everything or nothing, so it needs neither a savepoint nor, on its
    own, a transaction block:

    1. lock one balance row per account, in account-id order (each lock CTE waits for the
       previous one), so concurrent writers cannot deadlock. A sharded (hot) account takes
       any shard nobody holds (SKIP LOCKED) and waits on a random one only when all are busy.
       Each lock joins the account row and checks it is the account given (see `_remember`);
    2. check every no_overdraft account on the row it has just locked (the newest version);
    3. only if all checks pass (and every rider's guard holds), insert the transaction; ON
       CONFLICT DO NOTHING turns a second post/void/reversal of the same transaction (unique
       resolves/reverses) into "nothing";
    4. only if the transaction was inserted, update the locked balance rows, insert the
       postings and the riders' rows (the audit entry, a reward...).
    Returns the refusal (InsufficientFunds, InvalidTransition, AlreadyReversed, a rider's
    refusal) or None; raises StaleAccount when an account is not the one given."""
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
    rows = [(*d, _need(a, *d)) for a, d in (deltas[account_id] for account_id in ordered)]
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
    guard = " AND ".join(f"({r.guard})" for r in riders) or "TRUE"
    ctes.append(f"go AS (SELECT ok AND g AS ok, g AS allowed FROM chk, (SELECT {guard} AS g) q)")
    for r in riders:
        params += r.guard_params
    ctes.append(
        "txn AS (INSERT INTO ledger_transaction (id, program_id, kind, resolves_id, reverses_id,"
        " description, metadata, reference, created_at)"
        " SELECT %s::uuid, %s, %s, %s::uuid, %s::uuid, %s, %s::jsonb, %s, %s::timestamptz"
        " WHERE (SELECT ok FROM go) ON CONFLICT DO NOTHING"
        " RETURNING id, program_id, kind, created_at)"
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
        " FROM locked l JOIN v USING (n) WHERE b.id = l.id AND EXISTS (SELECT 1 FROM txn)"
        " RETURNING b.id)"
    )
    ctes.append(
        "ins AS (INSERT INTO ledger_posting (transaction_id, account_id, direction, amount,"
        " currency, kind, created_at)"
        " SELECT txn.id, x.account_id, x.direction, x.amount, x.currency, txn.kind,"
        " txn.created_at FROM txn CROSS JOIN unnest(%s::bigint[], %s::text[], %s::bigint[],"
        " %s::text[]) WITH ORDINALITY AS x (account_id, direction, amount, currency, i)"
        " ORDER BY x.i RETURNING id)"
    )
    params += [
        [a.pk for a, _, _ in lines],
        [d for _, d, _ in lines],
        [m for _, _, m in lines],
        [a.currency for a, _, _ in lines],
    ]
    outputs = []
    for r in riders:
        ctes += [f"{name} AS ({body})" for name, body in r.ctes]
        params += r.params
        outputs += r.outputs
    sql = (
        f"WITH {', '.join(ctes)} SELECT complete, chk.ok, short, allowed,"
        " (SELECT count(*) FROM txn), (SELECT count(*) FROM upd), (SELECT count(*) FROM ins)"
        + "".join(f", {o}" for o in outputs)
        + " FROM chk, go"
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
            return _overflow(*[deltas[a][0] for a in ordered])
        complete, ok, short, allowed, inserted, updated, posted, *results = cursor.fetchone()
    if not complete:
        raise StaleAccount(f"account rows changed or missing for accounts {ordered}")
    if not ok:
        # A second reversal (or post/void) is refused as such, even when it would also lack
        # funds. This query's fresh snapshot sees a rival that committed while we waited.
        if (txn.reverses_id or txn.resolves_id) and Transaction.objects.filter(
            Q(reverses_id=txn.reverses_id) if txn.reverses_id else Q(resolves_id=txn.resolves_id)
        ).exists():
            return _conflict(txn.resolves, txn.reverses)
        if short is not None:
            return _insufficient(deltas[ordered[short]][0])
    if not allowed:
        refusal = next((r.refusal for r in riders if r.refusal is not None), None)
        return refusal or IntegrityError("a rider's guard refused the booking")
    if not inserted:
        return _conflict(txn.resolves, txn.reverses)
    if updated != len(ordered) or posted != len(lines):
        raise RuntimeError(f"booking wrote {updated} balances and {posted} postings")
    for r in riders:
        r.result, results = tuple(results[: len(r.outputs)]), results[len(r.outputs) :]
    return None


def _book(
    *,
    program: Program,
    kind: str,
    lines: list[tuple[Account, str, int]],
    resolves: Transaction | None = None,
    reverses: Transaction | None = None,
    description: str = "",
    metadata: dict[str, Any] | None = None,
    reference: str = "",
    actor: str,
    audit: Callable[[Transaction], dict[str, Any]] | None,
    rider: Callable[[Transaction], Rider] | None = None,
) -> Transaction:
    """Write a transaction, its postings and the stored totals (and its audit entry) in one
    database transaction, or nothing. On PostgreSQL that is one statement, audit entry and
    rider included, so a refusal writes nothing and needs no savepoint; elsewhere a savepoint
    undoes it."""
    txn = Transaction(
        program=program,
        kind=kind,
        resolves=resolves,
        reverses=reverses,
        description=description[:500],
        metadata=metadata or {},
        reference=reference,
        created_at=timezone.now(),
    )
    deltas = _balance_deltas(kind, lines)
    if connection.vendor == "postgresql":
        riders = []
        if audit is not None:
            body, params = audit_record_sql(
                source="txn", program=program, actor=actor, **audit(txn)
            )
            riders.append(Rider(ctes=[("audit", body)], params=params, outputs=[]))
        if rider is not None:
            riders.append(rider(txn))
        refusal = _book_pg(txn, lines, deltas, riders)
        if refusal is not None:
            raise refusal
        txn._state.adding, txn._state.db = False, connection.alias
        return txn
    if rider is not None:
        raise ValueError("riders need PostgreSQL")
    with transaction.atomic():
        _book_orm(txn, lines, deltas)
        if audit is not None:
            audit_record(program=program, actor=actor, **audit(txn))
    return txn


def transaction_create(
    *,
    program: Program,
    postings: Sequence[PostingLine],
    pending: bool = False,
    description: str = "",
    metadata: dict[str, Any] | None = None,
    reference: str = "",
    actor: str = "system",
    audit: bool = True,
    rider: Callable[[Transaction], Rider] | None = None,
) -> Transaction:
    """Book a balanced transaction (posted, or pending to be posted/voided later). Postings may
    name accounts by code or pass Account instances (which saves looking them up). `rider`
    (PostgreSQL only) adds rows to the booking's own statement; see Rider."""
    for attempt in range(2):
        accounts = _resolve_accounts(program, postings, fresh=attempt > 0)
        _check_lines(postings, accounts)
        lines = [
            (
                accounts[ln.account if isinstance(ln.account, str) else ln.account.code],
                ln.direction,
                ln.amount,
            )
            for ln in postings
        ]
        try:
            return _book(
                program=program,
                kind=Kind.PENDING if pending else Kind.POSTED,
                lines=lines,
                description=description,
                metadata=metadata,
                reference=reference,
                actor=actor,
                audit=(
                    lambda txn: {
                        "action": "transaction.created",
                        "object_type": "transaction",
                        "object_id": txn.pk,
                        "after": {"kind": txn.kind, "reference": reference},
                    }
                )
                if audit
                else None,
                rider=rider,
            )
        except StaleAccount:
            if attempt:
                raise
            _forget(program)
    raise AssertionError("unreachable")


def transaction_get(*, program: Program, transaction_id: Any) -> Transaction:
    try:
        pk = uuid.UUID(str(transaction_id))
    except ValueError:
        raise NotFound(f"No transaction {transaction_id}.") from None
    txn = (
        Transaction.objects.select_related("resolution", "reversal", "reverses")
        .prefetch_related("postings__account")
        .filter(program=program, pk=pk)
        .first()
    )
    if txn is None:
        raise NotFound(f"No transaction {transaction_id}.")
    return txn


def _copied_lines(txn: Transaction, *, mirror: bool) -> list[tuple[Account, str, int]]:
    flip = {DEBIT: CREDIT, CREDIT: DEBIT}
    return [
        (p.account, flip[p.direction] if mirror else p.direction, p.amount)
        for p in Posting.objects.filter(transaction=txn).select_related("account").order_by("id")
    ]


def _resolve(
    *,
    program: Program,
    pending: Transaction,
    kind: str,
    actor: str,
    reason: str = "",
    audit: bool = True,
) -> Transaction:
    if pending.kind != Kind.PENDING:
        raise InvalidTransition(f"Transaction {pending.pk} is {pending.kind}, not pending.")
    # No "already resolved?" query first: the unique `resolves` decides, also under races.
    try:
        return _book(
            program=program,
            kind=kind,
            lines=_copied_lines(pending, mirror=False),
            resolves=pending,
            description=f"{kind} of {pending.pk}",
            reference=pending.reference,
            actor=actor,
            audit=(
                lambda txn: {
                    "action": f"transaction.{kind}",
                    "object_type": "transaction",
                    "object_id": pending.pk,
                    "before": {"status": "pending"},
                    "after": {"status": "posted" if kind == Kind.POST else "voided"},
                    "reason": reason,
                }
            )
            if audit
            else None,
        )
    except InvalidTransition:
        done = Transaction.objects.filter(resolves=pending).values_list("kind", flat=True).first()
        status = {"post": "posted", "void": "voided"}.get(done or "", "resolved")
        raise InvalidTransition(f"Pending transaction {pending.pk} is already {status}.") from None


def transaction_post(
    *, program: Program, pending: Transaction, actor: str = "system", audit: bool = True
) -> Transaction:
    """Post a pending transaction: its reserved amounts become posted. Owners (the reward
    services) call this directly; clients go through transaction_move."""
    return _resolve(program=program, pending=pending, kind=Kind.POST, actor=actor, audit=audit)


def transaction_void(
    *,
    program: Program,
    pending: Transaction,
    actor: str = "system",
    reason: str = "",
    audit: bool = True,
) -> Transaction:
    """Void a pending transaction: its reservation is released and nothing is posted."""
    return _resolve(
        program=program, pending=pending, kind=Kind.VOID, actor=actor, reason=reason, audit=audit
    )


def transaction_reverse(
    *,
    program: Program,
    original: Transaction,
    reason: str,
    actor: str = "system",
    metadata: dict[str, Any] | None = None,
    audit: bool = True,
) -> Transaction:
    """Book a new posted transaction that mirrors every posting of a posted one, once."""
    if original.kind == Kind.PENDING:
        resolution = Transaction.objects.filter(resolves=original).first()
        if resolution is None or resolution.kind != Kind.POST:
            raise InvalidTransition(
                f"Transaction {original.pk} is {original.status}; void a pending transaction "
                "instead of reversing it."
            )
        original = resolution  # reversing a posted two-phase transfer mirrors its posting
    if original.kind not in (Kind.POSTED, Kind.POST):
        raise InvalidTransition(f"A {original.kind} transaction cannot be reversed.")
    return _book(
        program=program,
        kind=Kind.REVERSAL,
        lines=_copied_lines(original, mirror=True),
        reverses=original,
        description=f"Reversal of {original.pk}: {reason}"[:500],
        metadata=metadata or {"reason": reason},
        reference=original.reference,
        actor=actor,
        audit=(
            lambda txn: {
                "action": "transaction.reversed",
                "object_type": "transaction",
                "object_id": original.pk,
                "after": {"reversal": str(txn.pk)},
                "reason": reason,
            }
        )
        if audit
        else None,
    )


# --- the generic endpoints ----------------------------------------------------------------

_DONE = {"post": "posted", "void": "voided", "reverse": "reversed"}


def transaction_owner(txn: Transaction) -> str | None:
    """The lifecycle a transaction belongs to (a registered owner's kind), or None for a
    transaction booked through POST P/transactions. Known from its reference (owners set it;
    the generic endpoint never does) and, as a second witness, from the owner rows linking it."""
    reference = txn.reference or ""
    for owner in _OWNERS.values():
        if owner.reference.fullmatch(reference):
            return owner.kind
    ids = [pk for pk in (txn.pk, txn.resolves_id) if pk is not None]
    for owner in _OWNERS.values():
        if owner.linked(ids):
            return owner.kind
    return None


def transaction_move(
    *, program: Program, txn: Transaction, step: str, actor: str, reason: str = ""
) -> Transaction:
    """Post, void or reverse a transaction for POST P/transactions/{id}/post|void|reverse and
    the admin. A transaction that belongs to a reward, a payout, a clawback or credits moves
    only through its owner, which keeps the owner's state and the money in step: 409
    invalid_transition here, and the database refuses it at commit too (migration 0010)."""
    owner = transaction_owner(txn)
    if owner is not None:
        raise InvalidTransition(
            f"Transaction {txn.pk} belongs to a {owner}; it cannot be {_DONE[step]} on its own "
            f"({_OWNERS[owner].instead})."
        )
    if step == "post":
        return transaction_post(program=program, pending=txn, actor=actor)
    if step == "void":
        return transaction_void(program=program, pending=txn, actor=actor, reason=reason)
    if step == "reverse":
        return transaction_reverse(program=program, original=txn, reason=reason, actor=actor)
    raise ValueError(f"unknown step {step!r}")
