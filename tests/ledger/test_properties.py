"""Property-based test of the ledger: hypothesis drives random sequences of posted transfers,
pending transfers, posts, voids, reversals and overdraft attempts through the services, each
committed, against a small model of what every account's totals should be. After every step
the database must agree with the model and with itself: Σ debits = Σ credits, stored totals =
postings, and no no_overdraft account below zero."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from django.db.models import Q, Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from config.platform.exceptions import AlreadyReversed, InsufficientFunds, InvalidTransition
from ledger.booking.lines import PostingLine
from ledger.models import Account, Posting, Transaction
from ledger.selectors import account_balance
from ledger.services.accounts import account_create
from ledger.services.reconciliation import check_stored_totals, check_transactions_balanced
from ledger.services.transactions import (
    transaction_create,
    transaction_post,
    transaction_reverse,
    transaction_void,
)
from rules.rewards.services.programs import program_create

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class ModelAccount:
    code: str
    debit_normal: bool
    no_overdraft: bool
    totals: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # pd, pc, qd, qc

    @property
    def available(self) -> int:
        pd, pc, qd, qc = self.totals
        return pd - pc - qc if self.debit_normal else pc - pd - qd


def _deltas(kind: str, lines: list[tuple[str, str, int]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for code, direction, amount in lines:
        d = out.setdefault(code, [0, 0, 0, 0])
        side = 0 if direction == "debit" else 1
        if kind in ("posted", "reversal", "post"):
            d[side] += amount
        if kind == "pending":
            d[2 + side] += amount
        if kind in ("post", "void"):
            d[2 + side] -= amount
    return out


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        slug = f"p{uuid.uuid4().hex[:12]}"
        self.program, _ = program_create(slug=slug, name=slug, currency="INR")
        self.accounts: dict[str, ModelAccount] = {
            a.code: ModelAccount(a.code, a.debit_normal, a.no_overdraft)
            for a in Account.objects.filter(program=self.program)
        }
        self.open_pending: list[tuple[Transaction, list[tuple[str, str, int]]]] = []
        self.resolved: list[Transaction] = []
        # Reversible transactions (posted, or the post of a pending) and their lines.
        self.reversible: list[tuple[Transaction, list[tuple[str, str, int]]]] = []
        self.reversed: list[Transaction] = []
        self.n_accounts = 0
        for _ in range(2):
            self._open("liability", no_overdraft=True)

    # --- model helpers ----------------------------------------------------------------------

    def _open(self, kind: str, *, no_overdraft: bool) -> None:
        self.n_accounts += 1
        code = f"user:u{self.n_accounts}:wallet"
        account = account_create(
            program=self.program,
            code=code,
            kind=kind,
            currency="INR",
            no_overdraft=no_overdraft,
        )
        self.accounts[code] = ModelAccount(code, account.debit_normal, no_overdraft)

    def _refused(self, kind: str, lines: list[tuple[str, str, int]]) -> bool:
        """Would this move take a no_overdraft account's available balance below zero?"""
        for code, (pd, pc, qd, qc) in _deltas(kind, lines).items():
            acc = self.accounts[code]
            if not acc.no_overdraft:
                continue
            need = pc + qc - pd if acc.debit_normal else pd + qd - pc
            if need > 0 and acc.available < need:
                return True
        return False

    def _apply(self, kind: str, lines: list[tuple[str, str, int]]) -> None:
        for code, delta in _deltas(kind, lines).items():
            totals = self.accounts[code].totals
            for i, d in enumerate(delta):
                totals[i] += d

    def _book(self, lines: list[tuple[str, str, int]], *, pending: bool) -> None:
        kind = "pending" if pending else "posted"
        expect_refusal = self._refused(kind, lines)
        try:
            txn = transaction_create(
                program=self.program,
                postings=[PostingLine(c, d, a) for c, d, a in lines],
                pending=pending,
            )
        except InsufficientFunds:
            assert expect_refusal, f"refused although the model allows it: {lines}"
            return
        assert not expect_refusal, f"booked although it overdraws: {lines}"
        self._apply(kind, lines)
        (self.open_pending if pending else self.reversible).append((txn, lines))

    # --- rules ------------------------------------------------------------------------------

    @precondition(lambda self: self.n_accounts < 6)
    @rule(
        kind=st.sampled_from(["liability", "asset"]),
        no_overdraft=st.booleans(),
    )
    def open_account(self, kind: str, no_overdraft: bool) -> None:
        self._open(kind, no_overdraft=no_overdraft)

    @rule(
        data=st.data(),
        amount=st.integers(min_value=1, max_value=500),
        pending=st.booleans(),
        split=st.booleans(),
    )
    def transfer(self, data, amount: int, pending: bool, split: bool) -> None:
        codes = sorted(self.accounts)
        src = data.draw(st.sampled_from(codes), label="from")
        dst = data.draw(st.sampled_from([c for c in codes if c != src]), label="to")
        if split and amount > 1:  # one debit against two credits
            lines = [(src, "debit", amount), (dst, "credit", amount - 1), (dst, "credit", 1)]
        else:
            lines = [(src, "debit", amount), (dst, "credit", amount)]
        self._book(lines, pending=pending)

    @rule(data=st.data(), extra=st.integers(min_value=1, max_value=50), pending=st.booleans())
    def overdraft_attempt(self, data, extra: int, pending: bool) -> None:
        guarded = sorted(c for c, a in self.accounts.items() if a.no_overdraft)
        code = data.draw(st.sampled_from(guarded), label="account")
        acc = self.accounts[code]
        amount = max(acc.available, 0) + extra
        other = "program:rewards_expense"
        # Move value out of the account, whichever side that is for its kind.
        if acc.debit_normal:
            lines = [(other, "debit", amount), (code, "credit", amount)]
        else:
            lines = [(code, "debit", amount), (other, "credit", amount)]
        assert self._refused("pending" if pending else "posted", lines)
        self._book(lines, pending=pending)

    @precondition(lambda self: self.open_pending)
    @rule(data=st.data(), post=st.booleans())
    def resolve(self, data, post: bool) -> None:
        i = data.draw(st.integers(0, len(self.open_pending) - 1), label="pending")
        pending, lines = self.open_pending.pop(i)
        if post:
            resolution = transaction_post(program=self.program, pending=pending)
            self._apply("post", lines)
            self.reversible.append((resolution, lines))
        else:
            transaction_void(program=self.program, pending=pending)
            self._apply("void", lines)
        self.resolved.append(pending)

    @precondition(lambda self: self.resolved)
    @rule(data=st.data(), post=st.booleans())
    def resolve_again(self, data, post: bool) -> None:
        pending = data.draw(st.sampled_from(self.resolved), label="resolved")
        with pytest.raises(InvalidTransition):
            (transaction_post if post else transaction_void)(program=self.program, pending=pending)

    @precondition(lambda self: self.reversible)
    @rule(data=st.data())
    def reverse(self, data) -> None:
        i = data.draw(st.integers(0, len(self.reversible) - 1), label="original")
        original, lines = self.reversible[i]
        mirrored = [(c, "credit" if d == "debit" else "debit", a) for c, d, a in lines]
        expect_refusal = self._refused("reversal", mirrored)
        # A two-phase transfer is reversed through its pending transaction or its post.
        target = original
        if original.kind == "post" and data.draw(st.booleans(), label="via pending"):
            target = Transaction.objects.get(pk=original.resolves_id)
        try:
            transaction_reverse(program=self.program, original=target, reason="property test")
        except InsufficientFunds:
            assert expect_refusal, f"reversal refused although the model allows it: {lines}"
            return
        assert not expect_refusal, f"reversal booked although it overdraws: {mirrored}"
        self._apply("reversal", mirrored)
        self.reversible.pop(i)
        self.reversed.append(original)

    @precondition(lambda self: self.reversed)
    @rule(data=st.data())
    def reverse_again(self, data) -> None:
        original = data.draw(st.sampled_from(self.reversed), label="reversed")
        with pytest.raises(AlreadyReversed):
            transaction_reverse(program=self.program, original=original, reason="again")

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def debits_equal_credits_per_currency(self) -> None:
        sums = (
            Posting.objects.filter(transaction__program=self.program)
            .values("currency")
            .annotate(
                d=Sum("amount", filter=Q(direction="debit")),
                c=Sum("amount", filter=Q(direction="credit")),
            )
        )
        for row in sums:
            assert row["d"] == row["c"], row

    @invariant()
    def stored_totals_equal_postings(self) -> None:
        assert check_transactions_balanced(self.program) == []
        assert check_stored_totals(self.program) == []

    @invariant()
    def stored_totals_equal_the_model(self) -> None:
        for account in Account.objects.filter(program=self.program):
            b = account_balance(account)
            actual = [
                b["posted"]["debits"],
                b["posted"]["credits"],
                b["pending"]["debits"],
                b["pending"]["credits"],
            ]
            assert actual == self.accounts[account.code].totals, account.code
            if account.no_overdraft:
                assert b["available"] >= 0, (account.code, b)


def test_ledger_state_machine():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
