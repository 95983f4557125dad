"""Creating many rewards in one request (SPEC §14, `POST P/rewards/batch`).

Each item is its own idempotent request, exactly as if it had been sent alone to
`POST P/rewards` with `Idempotency-Key: <key>` (the same fingerprint, the same stored record
and response, so a key may even be replayed across the two endpoints); one item's failure never
blocks another's. One database transaction per batch:

1. items that fail validation are answered 400 at once and store nothing (as alone);
2. on PostgreSQL, one statement reads the records of all the keys and draws a reward id for
   each key without one; a key with a record is replayed from it (200 with the stored body,
   422 for another body);
3. one statement (ledger.booking.batch) books the others and writes, for each, what
   reward_create and the single endpoint write: the reward (with its id drawn in step 2),
   its history row, audit entry and outbox rows, and the key's record with its final 201
   response (built before the statement, since the id and time are known). The records are
   inserted first, in key order, and only then are accounts locked: the order of a single
   request (claim, then book), so the two cannot deadlock. A key that a concurrent request
   took after step 2 makes that insert fail on the unique index (after waiting for it to
   commit): nothing is written and the batch runs again from step 2, where it now replays it;
4. should the batch as a whole be refused (a no_overdraft account, an overflowing total),
   and on SQLite: the keys are claimed in one statement (`INSERT ... ON CONFLICT DO NOTHING`,
   in key order; a key taken is replayed), the items booked one by one through
   reward_create, each under a savepoint, and the records completed in one statement.

tests/bulk/test_reward_batch.py compares the rows with single requests' and checks that the
number of statements does not depend on the batch's size.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.utils import encoders

from config.platform.api.errors import problem
from config.platform.context import current_request_id
from config.platform.currencies import MAX_AMOUNT
from config.platform.db import prepared_cursor
from config.platform.exceptions import (
    DomainError,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    ValidationFailed,
)
from config.platform.models import IdempotencyRecord, Program
from config.platform.webhooks.services import webhook_dispatch_on_commit
from ledger import accounts as chart
from ledger.accounts import REWARDS_EXPENSE, user_rewards_code
from ledger.booking import batch, postgres
from ledger.booking.batch import TXN, BatchRefused, BatchRider, Entry, NewTxn
from ledger.booking.lines import PostingLine, resolve_accounts
from ledger.models import Account, Transaction
from rules.rewards.models import Reward
from rules.rewards.services.reward_records import REWARD_EVENTS
from rules.rewards.services.rewards import _validate_new, reward_create

MAX_ITEMS = 1000
Status = Reward.Status
_TABLE = IdempotencyRecord._meta.db_table
# (the new reward as a row: REWARD_ROW's keys, the actor) -> its 201 body (plain JSON types)
Render = Callable[[dict[str, Any], str], Any]
REWARD_ROW = (
    "id",
    "beneficiary",
    "amount",
    "currency",
    "reward_type",
    "status",
    "metadata",
    "created_at",
    "hold_reason",
)


@dataclass
class BatchItem:
    """One item: its key, its fingerprint (item_fingerprint) and either the validated fields
    of reward_create or the validation error that answers it."""

    key: str
    fingerprint: str
    fields: dict[str, Any] | None = None
    error: DomainError | None = None


@dataclass
class ItemResult:
    key: str
    status: int
    body: Any  # the reward (2xx) or a problem object
    text: str | None = None  # the body as JSON text, when it was encoded already

    def as_json(self) -> dict[str, Any]:
        name = "reward" if self.status < 400 else "error"
        return {"key": self.key, "status": self.status, name: self.body}

    def as_json_text(self) -> str:
        """as_json() encoded, reusing the body's text: a batch's bodies are encoded once, for
        their stored records and the response alike."""
        name = "reward" if self.status < 400 else "error"
        body = self.text if self.text is not None else _stored(self.body)
        return f'{{"key":{_encode(self.key)},"status":{self.status},"{name}":{body}}}'


def reward_row(reward: Reward) -> dict[str, Any]:
    """A Reward as the row Render takes."""
    return {name: getattr(reward, name) for name in REWARD_ROW}


def item_fingerprint(single_path: str, body: Any) -> str:
    """What `POST {single_path}` with this body would be fingerprinted as
    (config.platform.api.idempotency.request_fingerprint)."""
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"POST {single_path}\n{raw}".encode()).hexdigest()


def _problem(exc: DomainError) -> dict[str, Any]:
    return problem(
        status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
    )


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _stored(body: Any) -> str:
    # The encoder DRF's renderer uses, as the single endpoint stores its responses (compact:
    # the same text goes into the response).
    return json.dumps(body, cls=encoders.JSONEncoder, ensure_ascii=False, separators=(",", ":"))


def _check(program: Program, fields: dict[str, Any]) -> None:
    """What reward_create and the booking refuse with a 400 (storing nothing), checked before
    the key is claimed."""
    _validate_new(
        program=program,
        beneficiary=fields["beneficiary"],
        amount=fields["amount"],
        currency=fields["currency"],
        reward_type=fields["reward_type"],
    )
    if fields["amount"] > MAX_AMOUNT:
        raise ValidationFailed(
            f"An amount is at most {MAX_AMOUNT} minor units (the money limit).",
            errors=[{"field": "amount", "message": f"at most {MAX_AMOUNT}"}],
        )


def reward_batch_create(
    *, program: Program, items: Sequence[BatchItem], actor: str, render: Render
) -> list[ItemResult]:
    """One result per item, in order (see the module's docstring)."""
    results: list[ItemResult | None] = [None] * len(items)
    first: dict[str, int] = {}
    repeats: list[int] = []
    for i, item in enumerate(items):
        if item.error is None and item.fields is not None:
            try:
                _check(program, item.fields)
            except DomainError as exc:
                item.error = exc
        if item.error is not None:
            results[i] = ItemResult(item.key, item.error.status, _problem(item.error))
        elif item.key in first:
            repeats.append(i)  # the same key twice in one batch: answered as a retry
        else:
            first[item.key] = i
    refused: dict[int, ItemResult] = {}
    one_statement = postgres.in_use()
    # Locks last sets the transaction's constraints IMMEDIATE: only in a transaction of our
    # own, not inside a caller's (whose pending deferred checks it would run, and whose later
    # writes it would change).
    locks_last = not connection.in_atomic_block
    stale = taken = 0
    while True:
        try:
            if one_statement:
                _lookup_and_book(
                    program,
                    items,
                    first,
                    results,
                    actor=actor,
                    render=render,
                    locks_last=locks_last,
                )
            else:
                _claim_and_book(program, items, first, refused, results, actor=actor, render=render)
            break
        except BatchRefused:
            one_statement = False  # item by item, where each is refused or booked alone
        except postgres.StaleAccount:
            stale += 1
            if stale > 1:
                raise
            chart.cache_forget(program)
        except _KeyTaken:
            # A concurrent request committed one of the keys after the lookup: run again
            # (the lookup replays it). Each round is another request's progress.
            taken += 1
            if taken > 20:
                raise
        except _Refused as exc:
            # An item refused with a 400 only once booked (an overflowing total): as alone,
            # it must store nothing, and a record is never deleted, so the batch's transaction
            # is rolled back and run again without it (each round removes at least one).
            refused |= exc.results
            for i, result in exc.results.items():
                results[i] = result
    for i in repeats:
        original = results[first[items[i].key]]
        assert original is not None
        if items[i].fingerprint != items[first[items[i].key]].fingerprint:
            results[i] = _reused(items[i].key)
        else:
            results[i] = ItemResult(
                items[i].key, 200 if original.status == 201 else original.status, original.body
            )
    return [r for r in results if r is not None]


class _Refused(Exception):
    def __init__(self, results: dict[int, ItemResult]):
        self.results = results


class _KeyTaken(Exception):
    pass


_LOOKUP = (
    f"SELECT x.k, r.request_hash, r.response_status, r.response_body::text,"
    " CASE WHEN r.id IS NULL THEN nextval(%s::regclass) END"
    f" FROM unnest(%s::text[]) AS x (k) LEFT JOIN {_TABLE} r"
    " ON r.program_id = %s AND r.key = x.k"
)
_sequence: list[str] = []


def _reward_sequence() -> str:
    if not _sequence:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Reward._meta.db_table])
            _sequence.append(cursor.fetchone()[0])
    return _sequence[0]


def _lookup_and_book(
    program: Program,
    items: Sequence[BatchItem],
    first: dict[str, int],
    results: list[ItemResult | None],
    *,
    actor: str,
    render: Render,
    locks_last: bool = True,
) -> None:
    """Steps 2-3 (PostgreSQL) for the first occurrence of each key, in one database
    transaction. Raises BatchRefused, StaleAccount or _KeyTaken having written nothing."""
    work = sorted(first.values())
    if not work:
        return
    sequence = _reward_sequence()
    with transaction.atomic():
        with prepared_cursor() as cursor:
            cursor.execute(_LOOKUP, [sequence, [items[i].key for i in work], program.pk])
            found = {row[0]: row[1:] for row in cursor.fetchall()}
        todo: list[int] = []
        ids: list[int] = []
        for i in work:
            request_hash, status, body, new_id = found[items[i].key]
            if new_id is None:
                record = _Record(request_hash, status, None if body is None else json.loads(body))
                results[i] = _replay(items[i], record)
            else:
                todo.append(i)
                ids.append(new_id)
        if not todo:
            return
        ids.sort()  # in the items' order, as single requests in turn would get them
        try:
            outcomes = _book_in_one_statement(
                program,
                [items[i] for i in todo],
                ids=ids,
                actor=actor,
                render=render,
                locks_last=locks_last,
            )
        except IntegrityError as exc:
            if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") == (
                "idempotency_key_unique"
            ):
                raise _KeyTaken from exc
            raise
        for i, (body, text) in zip(todo, outcomes, strict=True):
            results[i] = ItemResult(items[i].key, 201, body, text)


@dataclass
class _Record:
    request_hash: str
    response_status: int | None
    response_body: Any


def _claim_and_book(
    program: Program,
    items: Sequence[BatchItem],
    first: dict[str, int],
    refused: dict[int, ItemResult],
    results: list[ItemResult | None],
    *,
    actor: str,
    render: Render,
) -> None:
    """Steps 2-4 for the first occurrence of each key (less those `refused`), in one database
    transaction; raises _Refused (rolling it back) when an item is refused with a 400."""
    work = sorted((i for i in first.values() if i not in refused), key=lambda i: items[i].key)
    if not work:
        return
    with transaction.atomic():
        claimed = _claim(program, [items[i] for i in work])
        taken = [i for i in work if items[i].key not in claimed]
        if taken:
            records = IdempotencyRecord.objects.filter(
                program=program, key__in=[items[i].key for i in taken]
            )
            by_key = {r.key: r for r in records}
            for i in taken:
                results[i] = _replay(items[i], by_key[items[i].key])
        todo = [i for i in sorted(first.values()) if items[i].key in claimed]
        outcomes = _book(program, [items[i] for i in todo], actor=actor)
        completed: list[tuple[int, int, str]] = []
        invalid: dict[int, ItemResult] = {}
        for i, outcome in zip(todo, outcomes, strict=True):
            item = items[i]
            if isinstance(outcome, DomainError):
                result = ItemResult(item.key, outcome.status, _problem(outcome))
                if outcome.status == 400:
                    invalid[i] = result
            else:
                body = render(outcome, actor)
                result = ItemResult(item.key, 201, body, _stored(body))
            results[i] = result
            completed.append(
                (claimed[item.key], result.status, result.text or _stored(result.body))
            )
        if invalid:
            raise _Refused(invalid)
        _complete(completed)


def _reused(key: str) -> ItemResult:
    exc = IdempotencyKeyReused(
        "This Idempotency-Key was used with a different request; use a new key."
    )
    return ItemResult(key, exc.status, _problem(exc))


def _replay(item: BatchItem, record: IdempotencyRecord | _Record) -> ItemResult:
    if record.request_hash != item.fingerprint:
        return _reused(item.key)
    if record.response_status is None:  # a portable-path rival still running
        exc = IdempotencyRequestInProgress("The first request with this key is still running.")
        return ItemResult(item.key, exc.status, _problem(exc))
    status = record.response_status
    return ItemResult(item.key, 200 if status < 300 else status, record.response_body)


def _claim(program: Program, items: Sequence[BatchItem]) -> dict[str, int]:
    """Claim the items' keys in one statement, in key order; the ids of those claimed."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    if connection.vendor == "postgresql":
        # One prepared statement for every batch size (the keys travel as arrays).
        with prepared_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_TABLE} (program_id, key, request_hash, response_status,"
                " response_body, created_at) SELECT %s, k, h, NULL, NULL, %s"
                " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS x (k, h, n)"
                " ORDER BY x.n ON CONFLICT (program_id, key) DO NOTHING RETURNING id, key",
                [program.pk, now, [i.key for i in items], [i.fingerprint for i in items]],
            )
            return {key: pk for pk, key in cursor.fetchall()}
    rows = ", ".join(["(%s, %s, %s, NULL, NULL, %s)"] * len(items))
    params: list[Any] = []
    for item in items:
        params += [program.pk, item.key, item.fingerprint, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_TABLE} (program_id, key, request_hash, response_status,"
            f" response_body, created_at) VALUES {rows}"
            " ON CONFLICT (program_id, key) DO NOTHING RETURNING id, key",
            params,
        )
        return {key: pk for pk, key in cursor.fetchall()}


def _complete(completed: list[tuple[int, int, str]]) -> None:
    with prepared_cursor() as cursor:
        if completed and connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {_TABLE} r SET response_status = x.s, response_body = x.b::jsonb"
                " FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS x (id, s, b)"
                " WHERE r.id = x.id",
                [[c[0] for c in completed], [c[1] for c in completed], [c[2] for c in completed]],
            )
        elif completed:
            cursor.executemany(
                f"UPDATE {_TABLE} SET response_status = %s, response_body = %s WHERE id = %s",
                [(s, b, pk) for pk, s, b in completed],
            )


def _book(
    program: Program, items: Sequence[BatchItem], *, actor: str
) -> list[dict[str, Any] | DomainError]:
    """Item by item (SQLite, or a batch refused as a whole): each refused or booked alone."""
    return [_book_one(program, item, actor=actor) for item in items]


def _book_one(program: Program, item: BatchItem, *, actor: str) -> dict[str, Any] | DomainError:
    assert item.fields is not None
    try:
        with transaction.atomic():
            reward, _ = reward_create(program=program, actor=actor, **item.fields)
    except DomainError as exc:
        return exc
    return reward_row(reward)


# reward_create's rows for every reward of a batch, riding the batch booking (TXN: the
# transactions just written, matched to the items by transaction id). What reward_booking's
# _REWARD_CTES, audit_record_sql and webhook_emit_sql write for one reward, for a set of them;
# the keys' records (_RECORDS) are what the single endpoint's idempotency stores.
_ITEMS = (
    "SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r (txn_id uuid, id bigint, beneficiary text,"
    " amount bigint, currency text, reward_type text, metadata jsonb, hold_reason text,"
    " payload jsonb, key text, hash text, body jsonb, n int)"
)
_RECORDS = (
    # Plain INSERT: a key taken since the lookup fails the statement (_KeyTaken), in key order.
    f"INSERT INTO {_TABLE} (program_id, key, request_hash, response_status, response_body,"
    " created_at) SELECT %s, r.key, r.hash, 201, r.body, %s::timestamptz FROM items r"
    ' ORDER BY r.key COLLATE "C" RETURNING id'
)
# A batch's outbox rows: one per new reward (`created`: id, n, event_id, payload) and active
# endpoint of the program subscribed to the event type. Params: the event type, the time
# (twice), the program, the event type.
_OUTBOX = (
    "outbox",
    "INSERT INTO ledger_webhookmessage (id, program_id, endpoint_id, event_id, event_type,"
    " payload, status, attempts, next_attempt_at, created_at) SELECT gen_random_uuid(),"
    " e.program_id, e.id, c.event_id, %s::text, c.payload, 'pending', 0, %s::timestamptz,"
    " %s::timestamptz FROM created c JOIN ledger_webhookendpoint e ON e.program_id = %s"
    " AND e.active AND e.events @> jsonb_build_array(%s::text) ORDER BY c.n, e.id"
    " RETURNING id",
)
_BATCH_CTES = [
    (
        "reward",
        "INSERT INTO ledger_reward (id, program_id, beneficiary, amount, currency, reward_type,"
        " status, metadata, transaction_id, source_key, hold_reason, created_at, updated_at)"
        f" SELECT r.id, t.program_id, r.beneficiary, r.amount, r.currency, r.reward_type,"
        f" '{Status.PENDING.value}', r.metadata, t.id, NULL, r.hold_reason, t.created_at,"
        f" t.created_at FROM items r JOIN {TXN} t ON t.id = r.txn_id ORDER BY r.n"
        " RETURNING id, status, hold_reason, created_at",
    ),
    (
        "created",
        # Referenced more than once, so materialized: one event id per reward.
        "SELECT w.id, w.status, w.hold_reason, w.created_at, r.n, gen_random_uuid() AS event_id,"
        " r.payload FROM reward w JOIN items r ON r.id = w.id",
    ),
    (
        "history",
        "INSERT INTO ledger_rewardhistory (reward_id, status, at, actor, reason)"
        " SELECT c.id, c.status, c.created_at, %s, c.hold_reason FROM created c ORDER BY c.n",
    ),
    (
        "audited",
        "INSERT INTO ledger_auditentry (program_id, at, actor, action, object_type, object_id,"
        " before, after, reason, request_id) SELECT %s::bigint, %s::timestamptz, %s, %s,"
        " 'reward', c.id::text, NULL, c.payload, c.hold_reason, %s"
        " FROM created c ORDER BY c.n",
    ),
    _OUTBOX,
]


def _accounts(program: Program, beneficiaries: set[str]) -> dict[str, Account]:
    """The users' rewards accounts, opening those that do not exist yet (one statement)."""
    codes = {user_rewards_code(b) for b in beneficiaries}
    found: dict[str, Account] = {}
    for code in codes:
        if (account := chart.cache_get(program, code)) is not None:
            found[code] = account
    missing = sorted(codes - found.keys())
    if missing:
        for code in missing:
            chart.validate_code(code)
        opened = batch.open_accounts(program=program, codes=missing, kind=Account.Kind.LIABILITY)
        chart.cache_add(opened.values())
        found |= opened
    return found


def _payload_time(at: datetime) -> str:
    """A time as DjangoJSONEncoder writes it (reward_event_payload's created_at as audit
    entries and webhook events carry it): to the millisecond, UTC as Z."""
    text = at.isoformat()
    if at.microsecond:
        text = text[:23] + text[26:]
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _book_in_one_statement(
    program: Program,
    items: Sequence[BatchItem],
    *,
    ids: Sequence[int],
    actor: str,
    render: Render,
    locks_last: bool = True,
) -> list[tuple[Any, str]]:
    """Book every item in one statement with the reward ids drawn for them, storing each key's
    record with its 201 response; returns each item's (body, body as JSON text). Plain dicts
    and tuples throughout: model instances, per-item encoders and per-item clocks cost more
    than the statement's share of the work."""
    fields = [item.fields for item in items]
    assert all(f is not None for f in fields)
    users = _accounts(program, {f["beneficiary"] for f in fields if f})
    lines = [
        PostingLine(REWARDS_EXPENSE, "debit", 1),
        *[PostingLine(a, "credit", 1) for a in users.values()],
    ]
    accounts = resolve_accounts(program, lines)
    expense = accounts[REWARDS_EXPENSE]
    threshold = program.fraud_amount_threshold
    event = REWARD_EVENTS[Status.PENDING]
    pending = Status.PENDING.value
    kind = Transaction.Kind.PENDING.value
    # One clock for the batch: its rewards are created by one database transaction.
    now = timezone.now()
    stamp = _payload_time(now)
    entries: list[Entry] = []
    outcomes: list[tuple[Any, str]] = []
    docs: list[str] = []
    for n, (item, f, pk) in enumerate(zip(items, fields, ids, strict=True)):
        assert f is not None
        amount, beneficiary, reward_type = f["amount"], f["beneficiary"], f["reward_type"]
        metadata = f.get("metadata") or {}
        hold_reason = ""
        if threshold is not None and amount > threshold:
            hold_reason = f"amount {amount} is above the fraud review threshold {threshold}"
        txn = NewTxn(
            pk=uuid.uuid4(),
            kind=kind,
            description=f"{reward_type} reward for {beneficiary}"[:500],
            metadata={"reward_type": reward_type},
            reference="reward",
            created_at=now,
        )
        user = users[user_rewards_code(beneficiary)]
        entries.append(Entry(txn, [(expense, "debit", amount), (user, "credit", amount)]))
        row = {
            "id": pk,
            "beneficiary": beneficiary,
            "amount": amount,
            "currency": f["currency"],
            "reward_type": reward_type,
            "status": pending,
            "metadata": metadata,
            "created_at": now,
            "hold_reason": hold_reason,
        }
        body = render(row, actor)
        text = _stored(body)
        outcomes.append((body, text))
        doc = {
            "txn_id": str(txn.pk),
            "id": pk,
            "beneficiary": beneficiary,
            "amount": amount,
            "currency": row["currency"],
            "reward_type": reward_type,
            "metadata": metadata,
            "hold_reason": hold_reason,
            # The audit entry's and webhook event's payload: reward_event_payload, as
            # DjangoJSONEncoder writes it.
            "payload": {**row, "created_at": stamp},
            "key": item.key,
            "hash": item.fingerprint,
            "n": n,
        }
        # The body is encoded already: spliced in as it is.
        docs.append(f'{_stored(doc)[:-1]},"body":{text}}}')
    rider = BatchRider(
        first=[("items", _ITEMS), ("recs", _RECORDS)],
        first_params=["[" + ",".join(docs) + "]", program.pk, now],
        ctes=_BATCH_CTES,
        params=[
            actor,
            program.pk,
            now,
            actor,
            event,
            current_request_id(),
            event,
            now,
            now,
            program.pk,
            event,
        ],
        outputs=[
            "(SELECT count(*) FROM recs)",
            "(SELECT count(*) FROM created)",
            "(SELECT array_agg(id) FROM outbox)",
        ],
    )
    # Locks last: batches sharing users' accounts queued on them for the whole booking.
    batch.book_many(program, entries, rider=rider, locks_last=locks_last)
    records, rewards, messages = rider.result
    if records != len(items) or rewards != len(items):
        raise RuntimeError(f"batch wrote {records} records and {rewards} rewards")
    webhook_dispatch_on_commit(messages or [])
    return outcomes


# --- rewards with source keys (batched event processing) -----------------------------------


@dataclass(slots=True)
class SourcedReward:
    """A new reward that reward_create would book for a rule's action (its `source_key`),
    validated already, with its id drawn beforehand (reward_ids_draw)."""

    id: int
    beneficiary: str
    amount: int
    currency: str
    reward_type: str
    metadata: dict[str, Any]
    source_key: str
    hold_reason: str
    actor: str


def reward_ids_draw(count: int) -> list[int]:
    """`count` new reward ids, ascending, in one statement (PostgreSQL)."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
            [_reward_sequence(), count],
        )
        return sorted(row[0] for row in cursor.fetchall())


_SOURCED_ITEMS = (
    "SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r (txn_id uuid, id bigint, beneficiary text,"
    " amount bigint, currency text, reward_type text, metadata jsonb, source_key text,"
    " hold_reason text, actor text, payload jsonb, n int)"
)
_SOURCED_CTES = [
    ("items", _SOURCED_ITEMS),
    (
        "reward",
        "INSERT INTO ledger_reward (id, program_id, beneficiary, amount, currency, reward_type,"
        " status, metadata, transaction_id, source_key, hold_reason, created_at, updated_at)"
        f" SELECT r.id, t.program_id, r.beneficiary, r.amount, r.currency, r.reward_type,"
        f" '{Status.PENDING.value}', r.metadata, t.id, r.source_key, r.hold_reason,"
        f" t.created_at, t.created_at FROM items r JOIN {TXN} t ON t.id = r.txn_id ORDER BY r.n"
        " RETURNING id, status, hold_reason, created_at",
    ),
    (
        "created",
        "SELECT w.id, w.status, w.hold_reason, w.created_at, r.n, r.actor,"
        " gen_random_uuid() AS event_id, r.payload FROM reward w JOIN items r ON r.id = w.id",
    ),
    (
        "history",
        "INSERT INTO ledger_rewardhistory (reward_id, status, at, actor, reason)"
        " SELECT c.id, c.status, c.created_at, c.actor, c.hold_reason FROM created c"
        " ORDER BY c.n",
    ),
    (
        "audited",
        "INSERT INTO ledger_auditentry (program_id, at, actor, action, object_type, object_id,"
        " before, after, reason, request_id) SELECT %s::bigint, %s::timestamptz, c.actor, %s,"
        " 'reward', c.id::text, NULL, c.payload, c.hold_reason, %s FROM created c ORDER BY c.n",
    ),
    _OUTBOX,
]


def rewards_create_sourced_many(
    program: Program,
    rewards: Sequence[SourcedReward],
    *,
    now: datetime,
    ride: Sequence[tuple[str, str]] = (),
    ride_params: Sequence[Any] = (),
) -> None:
    """Book these new rewards in one statement (PostgreSQL; ledger.booking.batch), writing for
    each exactly what reward_create writes for a reward with a source key: its pending
    transaction, the reward row (with its drawn id), its history row, audit entry and outbox
    rows, created at `now`. `ride`: the caller's own CTEs (name, body) and their params, which
    may select from `created` (the new rewards' ids, in column id), e.g. rows that refer to
    each reward. Nothing is written when it raises: BatchRefused or StaleAccount (the batch as
    a whole cannot be booked), IntegrityError (a source key the program has already)."""
    if not rewards:
        return
    users = _accounts(program, {r.beneficiary for r in rewards})
    lines = [
        PostingLine(REWARDS_EXPENSE, "debit", 1),
        *[PostingLine(a, "credit", 1) for a in users.values()],
    ]
    expense = resolve_accounts(program, lines)[REWARDS_EXPENSE]
    event = REWARD_EVENTS[Status.PENDING]
    kind = Transaction.Kind.PENDING.value
    stamp = _payload_time(now)
    entries: list[Entry] = []
    docs: list[dict[str, Any]] = []
    for n, r in enumerate(rewards):
        txn = NewTxn(
            pk=uuid.uuid4(),
            kind=kind,
            description=f"{r.reward_type} reward for {r.beneficiary}"[:500],
            metadata={"reward_type": r.reward_type},
            reference=f"reward:{r.source_key}",
            created_at=now,
        )
        user = users[user_rewards_code(r.beneficiary)]
        entries.append(Entry(txn, [(expense, "debit", r.amount), (user, "credit", r.amount)]))
        docs.append(
            {
                "txn_id": str(txn.pk),
                "id": r.id,
                "beneficiary": r.beneficiary,
                "amount": r.amount,
                "currency": r.currency,
                "reward_type": r.reward_type,
                "metadata": r.metadata,
                "source_key": r.source_key,
                "hold_reason": r.hold_reason,
                "actor": r.actor,
                # reward_event_payload, as DjangoJSONEncoder writes it.
                "payload": {
                    "id": r.id,
                    "beneficiary": r.beneficiary,
                    "amount": r.amount,
                    "currency": r.currency,
                    "reward_type": r.reward_type,
                    "status": Status.PENDING.value,
                    "hold_reason": r.hold_reason,
                    "metadata": r.metadata,
                    "created_at": stamp,
                },
                "n": n,
            }
        )
    rider = BatchRider(
        ctes=[*_SOURCED_CTES, *ride],
        params=[
            json.dumps(docs, separators=(",", ":")),
            program.pk,
            now,
            event,
            current_request_id(),
            event,
            now,
            now,
            program.pk,
            event,
            *ride_params,
        ],
        outputs=["(SELECT count(*) FROM created)", "(SELECT array_agg(id) FROM outbox)"],
    )
    batch.book_many(program, entries, rider=rider)
    created, messages = rider.result
    if created != len(rewards):
        raise RuntimeError(f"batch wrote {created} of {len(rewards)} rewards")
    webhook_dispatch_on_commit(messages or [])
