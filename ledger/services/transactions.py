"""Accounts and transactions: the only code that writes postings and balances."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from ledger.exceptions import (
    AlreadyExists,
    AlreadyReversed,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidTransition,
    NotFound,
    UnbalancedTransaction,
    ValidationFailed,
)
from ledger.models import CREDIT, DEBIT, Account, AccountBalance, Posting, Program, Transaction
from ledger.services.audit import audit_record

ACCOUNT_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_.@-]+)+$")
Kind = Transaction.Kind


@dataclass(frozen=True)
class PostingLine:
    """One requested posting: an account (by code or instance), a direction and an amount."""

    account: str | Account
    direction: str
    amount: int


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


def account_get_or_create(
    *, program: Program, code: str, kind: str, no_overdraft: bool = False, shards: int = 1
) -> Account:
    """For accounts the system opens on first use (a user's rewards or credits)."""
    account = Account.objects.filter(program=program, code=code).first()
    if account is not None:
        return account
    _validate_code(code)
    try:
        with transaction.atomic():
            return _create_account(
                program=program, code=code, kind=kind, no_overdraft=no_overdraft, shards=shards
            )
    except IntegrityError:  # opened concurrently
        return Account.objects.get(program=program, code=code)


# --- booking --------------------------------------------------------------------------------


def _resolve_accounts(program: Program, lines: Sequence[PostingLine]) -> dict[str, Account]:
    given = {ln.account.code: ln.account for ln in lines if isinstance(ln.account, Account)}
    if any(a.program_id != program.pk for a in given.values()):
        raise ValidationFailed("Every account must belong to the transaction's program.")
    codes = {ln.account for ln in lines if isinstance(ln.account, str)} - given.keys()
    found = dict(given)
    if codes:
        found |= {a.code: a for a in Account.objects.filter(program=program, code__in=codes)}
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
    sums: dict[str, int] = defaultdict(int)
    for i, ln in enumerate(lines):
        if type(ln.amount) is not int or ln.amount <= 0:
            raise ValidationFailed(
                "Amounts are positive integers in minor units.",
                errors=[{"field": f"postings.{i}.amount", "message": "must be a positive integer"}],
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
        raise _conflict(txn.resolves, txn.reverses) from None
    # A fixed order (account id) so concurrent writers cannot deadlock.
    for account_id in sorted(deltas):
        account, (pd, pc, qd, qc) = deltas[account_id]
        shard = 0 if account.balance_shards == 1 else random.randrange(account.balance_shards)
        qs = AccountBalance.objects.filter(account_id=account_id, shard=shard)
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


def _book_pg(
    txn: Transaction, lines: list[tuple[Account, str, int]], deltas: dict[int, Any]
) -> Exception | None:
    """The whole booking as one statement (one round trip instead of five or more), which
    either writes everything or nothing, so a refusal needs no savepoint:

    1. lock one balance row per account, in account-id order (each lock CTE waits for the
       previous one), so concurrent writers cannot deadlock. A sharded (hot) account takes
       any shard nobody holds (SKIP LOCKED) and waits on a random one only when all are busy;
    2. check every no_overdraft account on the row it has just locked (the newest version);
    3. only if all checks pass, insert the transaction; ON CONFLICT DO NOTHING turns a second
       post/void/reversal of the same transaction (unique resolves/reverses) into "nothing";
    4. only if the transaction was inserted, update the locked balance rows and insert the
       postings.
    Returns the refusal (InsufficientFunds, InvalidTransition, AlreadyReversed) or None."""
    params: list[Any] = []
    ctes: list[str] = []
    ordered = sorted(deltas)
    for i, account_id in enumerate(ordered):
        account = deltas[account_id][0]
        after_previous = f" AND (SELECT count(*) FROM l{i - 1}) >= 0" if i else ""
        if account.debit_normal:
            available = "posted_debits - posted_credits - pending_credits"
        else:
            available = "posted_credits - posted_debits - pending_debits"
        if account.balance_shards == 1:
            ctes.append(
                f"l{i} AS MATERIALIZED (SELECT id, {available} AS available"
                f" FROM ledger_accountbalance WHERE account_id = %s AND shard = 0"
                f"{after_previous} FOR UPDATE)"
            )
            params.append(account_id)
        else:
            # The pick is materialised first and joined: were it a subquery in the WHERE, the
            # re-check after waiting on a lock (EvalPlanQual) could pick another shard and
            # drop the row.
            ctes.append(
                f"p{i} AS MATERIALIZED (SELECT COALESCE("
                "(SELECT id FROM ledger_accountbalance WHERE account_id = %s"
                " ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED),"
                " (SELECT id FROM ledger_accountbalance WHERE account_id = %s AND shard = %s))"
                f" AS id WHERE TRUE{after_previous})"
            )
            ctes.append(
                f"l{i} AS MATERIALIZED (SELECT b.id, {available} AS available"
                f" FROM ledger_accountbalance b JOIN p{i} ON b.id = p{i}.id FOR UPDATE OF b)"
            )
            params += [account_id, account_id, random.randrange(account.balance_shards)]
    locked = " UNION ALL ".join(
        f"SELECT id, available, {i} AS n FROM l{i}" for i in range(len(ordered))
    )
    values = []
    for i, account_id in enumerate(ordered):
        account, (pd, pc, qd, qc) = deltas[account_id]
        values.append("(%s, %s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::bigint)")
        params += [i, pd, pc, qd, qc, _need(account, pd, pc, qd, qc)]
    ctes.append(f"locked AS ({locked})")
    ctes.append(f"v (n, pd, pc, qd, qc, need) AS (VALUES {', '.join(values)})")
    ctes.append(
        "chk AS (SELECT count(*) = %s AND COALESCE(bool_and(l.available >= v.need"
        " OR v.need = 0), TRUE) AS ok, min(v.n) FILTER (WHERE l.available < v.need) AS short"
        " FROM locked l JOIN v USING (n))"
    )
    params.append(len(ordered))
    ctes.append(
        "txn AS (INSERT INTO ledger_transaction (id, program_id, kind, resolves_id, reverses_id,"
        " description, metadata, reference, created_at)"
        " SELECT %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s WHERE (SELECT ok FROM chk)"
        " ON CONFLICT DO NOTHING RETURNING id)"
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
    rows = []
    params += [txn.kind, txn.created_at]
    for i, (account, direction, amount) in enumerate(lines):
        rows.append("(%s, %s::bigint, %s, %s::bigint, %s)")
        params += [i, account.pk, direction, amount, account.currency]
    ctes.append(
        "ins AS (INSERT INTO ledger_posting (transaction_id, account_id, direction, amount,"
        " currency, kind, created_at)"
        " SELECT txn.id, x.account_id, x.direction, x.amount, x.currency, %s, %s"
        f" FROM txn CROSS JOIN (VALUES {', '.join(rows)})"
        " AS x (i, account_id, direction, amount, currency) ORDER BY x.i RETURNING id)"
    )
    sql = (
        f"WITH {', '.join(ctes)} SELECT (SELECT ok FROM chk), (SELECT short FROM chk),"
        " (SELECT count(*) FROM txn), (SELECT count(*) FROM upd), (SELECT count(*) FROM ins)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ok, short, inserted, updated, posted = cursor.fetchone()
    if not ok:
        if short is None:  # a balance row is missing: never expected, so never swallowed
            raise RuntimeError(f"balance rows missing for accounts {ordered}")
        # A second reversal (or post/void) is refused as such, even when it would also lack
        # funds. This query's fresh snapshot sees a rival that committed while we waited.
        if (txn.reverses_id or txn.resolves_id) and Transaction.objects.filter(
            Q(reverses_id=txn.reverses_id) if txn.reverses_id else Q(resolves_id=txn.resolves_id)
        ).exists():
            return _conflict(txn.resolves, txn.reverses)
        return _insufficient(deltas[ordered[short]][0])
    if not inserted:
        return _conflict(txn.resolves, txn.reverses)
    if updated != len(ordered) or posted != len(lines):
        raise RuntimeError(f"booking wrote {updated} balances and {posted} postings")
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
) -> Transaction:
    """Write a transaction, its postings and the stored totals (and its audit entry) in one
    database transaction, or nothing. On PostgreSQL a refusal writes nothing, so no savepoint
    is needed and the error is raised after the block; elsewhere a savepoint undoes it."""
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
    pg = connection.vendor == "postgresql"
    refusal: Exception | None = None
    with transaction.atomic(savepoint=not pg):
        if pg:
            refusal = _book_pg(txn, lines, deltas)
            txn._state.adding, txn._state.db = False, connection.alias
        else:
            _book_orm(txn, lines, deltas)
        if refusal is None and audit is not None:
            audit_record(program=program, actor=actor, **audit(txn))
    if refusal is not None:
        raise refusal
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
) -> Transaction:
    """Book a balanced transaction (posted, or pending to be posted/voided later). Postings may
    name accounts by code or pass Account instances (which saves looking them up)."""
    accounts = _resolve_accounts(program, postings)
    _check_lines(postings, accounts)
    lines = [
        (
            accounts[ln.account if isinstance(ln.account, str) else ln.account.code],
            ln.direction,
            ln.amount,
        )
        for ln in postings
    ]
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
    )


def transaction_get(*, program: Program, transaction_id: Any) -> Transaction:
    try:
        pk = uuid.UUID(str(transaction_id))
    except ValueError:
        raise NotFound(f"No transaction {transaction_id}.") from None
    txn = (
        Transaction.objects.select_related("resolution", "reversal")
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
    """Post a pending transaction: its reserved amounts become posted."""
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
