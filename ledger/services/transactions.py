"""The books' public services: book a transaction (transaction_create), post, void or reverse
one, and move one for the generic endpoints (transaction_move). They validate a request
(ledger.booking.lines) and hand it to the booking: one statement on PostgreSQL
(ledger.booking.postgres), the ORM elsewhere (ledger.booking.portable). These and the account
services are the only code that writes postings and balances."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from config.platform.exceptions import InvalidTransition
from config.platform.models import Program
from ledger import accounts as chart
from ledger.booking import lines as requested
from ledger.booking import portable, postgres, totals
from ledger.booking.lines import PostingLine
from ledger.booking.postgres import Rider
from ledger.booking.totals import Line
from ledger.models import CREDIT, DEBIT, Posting, Transaction

Kind = Transaction.Kind


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


def _book(
    *,
    program: Program,
    kind: str,
    lines: list[Line],
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
    undoes it. `audit` gives audit_record's keywords for the booked transaction."""
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
    deltas = totals.balance_deltas(kind, lines)
    entry = None if audit is None else audit(txn)
    if postgres.in_use():
        ride = None if rider is None else rider(txn)
        refusal = postgres.book(txn, lines, deltas, actor=actor, audit=entry, rider=ride)
        if refusal is not None:
            raise refusal
        txn._state.adding, txn._state.db = False, connection.alias
        return txn
    if rider is not None:
        raise ValueError("riders need PostgreSQL")
    portable.book(txn, lines, deltas, actor=actor, audit=entry)
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
    (PostgreSQL only) adds rows to the booking's own statement; see ledger.booking.postgres."""
    for attempt in range(2):
        accounts = requested.resolve_accounts(program, postings, fresh=attempt > 0)
        requested.check_lines(postings, accounts)
        lines = [(accounts[requested.code_of(ln)], ln.direction, ln.amount) for ln in postings]
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
        except postgres.StaleAccount:
            if attempt:
                raise
            chart.cache_forget(program)
    raise AssertionError("unreachable")


def _copied_lines(txn: Transaction, *, mirror: bool) -> list[Line]:
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
