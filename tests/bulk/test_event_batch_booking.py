"""Batched processing on PostgreSQL books a batch's rewards together, after its events ran
(rules.actions.rewarding: BatchMemo.deferred, memo_rewards_flush), and runs the events without a
savepoint each until one fails (rules.services.event_batch). What it writes must be what single
processing writes, row for row; a batch whose rewards cannot be booked together, or whose event
fails, must still end with every event processed once and each reward booked once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.platform.models import AuditEntry, Program, WebhookMessage
from ledger.booking.batch import BatchRefused
from ledger.services.reconciliation import reconciliation_run
from rules.actions.run import action_key
from rules.models import Event, RewardLink
from rules.rewards.models import Reward
from rules.services import event_batch, handoff
from rules.services.processing import event_process
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

T0 = datetime(2026, 2, 3, 12, tzinfo=UTC)
COMMISSION = {
    "type": "percent_commission",
    "params": {
        "beneficiary": "referrer",
        "of": "event.amount",
        "rate_bps": 1000,
        "cap": 5000,
        "reward_type": "cash",
    },
}


@pytest.fixture(autouse=True)
def _stored_not_processed(settings, monkeypatch):
    """Events are stored without being processed: each test processes them itself."""
    settings.CELERY_BROKER_URL = ""
    monkeypatch.setattr(handoff, "_enqueue", lambda pk, **kwargs: None)
    monkeypatch.setattr(handoff, "_enqueue_many", lambda pks: None)


@pytest.fixture(autouse=True)
def dispatched(monkeypatch):
    """The webhook messages handed to delivery after commit (delivered nowhere)."""
    calls: list[list] = []
    monkeypatch.setattr(
        "config.platform.webhooks.tasks.webhook_messages_dispatch", lambda ids: calls.append(ids)
    )
    return calls


def program_with_rules(slug: str) -> Program:
    """Two rules on purchases (a limited commission and a flat reward for the referred user),
    a subscribed webhook endpoint, a fraud threshold that holds the large commissions, and
    referrals u0..u5 → ref0..ref2."""
    from config.platform.webhooks.endpoints import webhook_endpoint_create
    from rules.rewards.services.programs import program_create
    from rules.services.referrals import referral_create
    from rules.services.rules import rule_create, rule_publish

    program, _ = program_create(slug=slug, name=slug, currency="INR")
    Program.objects.filter(pk=program.pk).update(fraud_amount_threshold=4000)
    program.refresh_from_db()
    limited = rule_def(
        name="Commission",
        trigger="purchase",
        priority=20,
        conditions=ALWAYS,
        actions=[COMMISSION],
        limits={"per_beneficiary": {"max_rewards": 3, "period": "month"}},
    )
    flat = rule_def(
        name="Welcome", trigger="purchase", priority=10, conditions=ALWAYS,
        actions=[reward_action(100, beneficiary="referred")],
    )  # fmt: skip
    for definition in (limited, flat):
        rule = rule_create(program=program, definition=definition, actor="t")
        rule_publish(rule=rule, actor="t")
    for i in range(6):
        referral_create(program=program, referrer=f"ref{i % 3}", referred=f"u{i}", actor="t")
    webhook_endpoint_create(
        program=program, url="https://example.com/h", events=["reward.created"], actor="t"
    )
    return program


def ingest(program: Program, n: int) -> list[int]:
    from rules.services.events import event_ingest

    pks = []
    for k in range(n):
        event, _ = event_ingest(
            program=program,
            event_id=f"e{k}",
            type="purchase",
            user=f"u{k % 6}",
            occurred_at=T0 + timedelta(minutes=k),
            data={"amount": 20_000 + 15_000 * (k % 4)},
            actor="t",
        )
        pks.append(event.pk)
    return pks


def snapshot(program: Program) -> list[tuple]:
    """Every reward the program's events made, with every row booking it wrote, keyed by
    (event, rule, action) and with the ids that differ between two programs taken out."""
    rows = []
    links = RewardLink.objects.filter(program=program).select_related(
        "event", "rule", "reward__transaction"
    )
    for link in links:
        reward, txn = link.reward, link.reward.transaction
        assert txn is not None
        key = action_key(
            event_pk=link.event_id, rule_version_pk=link.rule_version_id, index=link.action_index
        )
        assert reward.source_key == key and txn.reference == f"reward:{key}"
        assert reward.created_at == txn.created_at
        metadata = {**reward.metadata, "rule": link.rule.name}

        def actor(text: str, link=link) -> str:  # the rule's id differs between programs
            return text.replace(f"rule:{link.rule_id}:", f"rule:{link.rule.name}:")

        audit = AuditEntry.objects.get(action="reward.created", object_id=str(reward.pk))
        [message] = WebhookMessage.objects.filter(program=program, payload__id=reward.pk)
        assert message.payload == audit.after and audit.program_id == program.pk
        assert audit.after["id"] == reward.pk
        payload = {
            k: v for k, v in audit.after.items() if k not in ("id", "created_at", "metadata")
        }
        rows.append(
            (
                (link.event.event_id, link.rule.name, link.action_index),
                (link.beneficiary, link.amount, link.occurred_at),
                (reward.beneficiary, reward.amount, reward.currency, reward.reward_type),
                (reward.status, reward.hold_reason, sorted(metadata.items())),
                (txn.kind, txn.description, txn.metadata),
                sorted(
                    (p.account.code, p.direction, p.amount, p.currency, p.kind, p.created_at)
                    for p in txn.postings.select_related("account")
                ),
                [(h.status, actor(h.actor), h.reason, h.at) for h in reward.history.all()],
                (actor(audit.actor), audit.object_type, audit.before, audit.reason),
                sorted(payload.items()),
                (message.event_type, message.status, message.attempts),
            )
        )
    # The postings' and history's times are the reward's own: compare them relative to it.
    return sorted(rows)


def relative(rows: list[tuple]) -> list[tuple]:
    out = []
    for row in rows:
        postings = [p[:-1] for p in row[5]]
        history = [h[:-1] for h in row[6]]
        out.append((*row[:5], postings, history, *row[7:]))
    return out


def results(program: Program) -> list[tuple]:
    """Each event's results with its reward ids replaced by how many there were."""
    out = []
    for event in Event.objects.filter(program=program).exclude(type="referral_created"):
        assert event.status == Event.Status.PROCESSED, (event.event_id, event.error)
        entries = [
            (e["outcome"], len(e["rewards"]), e["limited"], e["skipped"], e.get("held"))
            for e in event.results
        ]
        out.append((event.event_id, entries))
    return sorted(out)


def processed_alone(n: int) -> Program:
    program = program_with_rules("alone")
    for pk in ingest(program, n):
        assert event_process(event_pk=pk).status == "processed"
    return program


def test_a_batch_writes_what_single_processing_writes(dispatched):
    alone = processed_alone(24)
    batched = program_with_rules("batched")
    dispatched.clear()
    outcome = event_batch.events_process_batch(event_pks=ingest(batched, 24))
    assert (outcome.processed, outcome.retry, outcome.failed) == (24, 0, 0)
    # Its webhook messages are handed to delivery once it committed, all together.
    [sent] = dispatched
    assert sorted(sent) == sorted(
        WebhookMessage.objects.filter(program=batched).values_list("pk", flat=True)
    )
    assert relative(snapshot(batched)) == relative(snapshot(alone))
    assert results(batched) == results(alone)
    # Limited (3 a month per referrer) and held (above 4000) rewards are among them.
    assert any(e for _, entries in results(batched) for (_, _, e, _, _) in entries)
    assert Reward.objects.filter(program=batched).exclude(hold_reason="").exists()
    assert reconciliation_run().status == "clean"


def test_the_rewards_of_a_batch_are_booked_by_one_statement():
    batched = program_with_rules("batched")

    def statements(pks: list[int]) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert event_batch.events_process_batch(event_pks=pks).processed == len(pks)
        return [q["sql"] for q in queries.captured_queries]

    pks = ingest(batched, 36)
    statements(pks[:6])  # opens the users' accounts
    small, large = statements(pks[6:12]), statements(pks[12:])
    bookings = [sql for sql in large if "INSERT INTO ledger_reward " in sql]
    assert len(bookings) == 1 and "INSERT INTO rules_rewardlink" in bookings[0]
    # The same statements for 6 events as for 24: none is sent per event.
    assert len(large) == len(small), (len(small), len(large))
    assert not any("SAVEPOINT" in sql for sql in large)


def test_a_batch_whose_rewards_cannot_be_booked_together_books_them_one_by_one(monkeypatch):
    from rules.rewards.services import reward_batch

    alone = processed_alone(12)
    batched = program_with_rules("batched")
    real = reward_batch.batch.book_many
    refused: list[int] = []

    def refuse_once(program, entries, **kwargs):
        if not refused:
            refused.append(len(entries))
            raise BatchRefused("the batch would overdraw a no_overdraft account")
        return real(program, entries, **kwargs)

    monkeypatch.setattr(reward_batch.batch, "book_many", refuse_once)
    outcome = event_batch.events_process_batch(event_pks=ingest(batched, 12))
    assert refused and (outcome.processed, outcome.retry) == (12, 0)
    assert relative(snapshot(batched)) == relative(snapshot(alone))
    assert reconciliation_run().status == "clean"


def test_a_failing_event_costs_the_others_nothing(monkeypatch):
    """Without savepoints the first try rolls back as a whole; the second isolates the event."""
    batched = program_with_rules("batched")
    pks = ingest(batched, 12)
    real = event_batch.rules_evaluate_and_act
    seen: list[str] = []

    def fail_e5(event, **kwargs):
        seen.append(event.event_id)
        if event.event_id == "e5":
            raise RuntimeError("boom")
        return real(event, **kwargs)

    monkeypatch.setattr(event_batch, "rules_evaluate_and_act", fail_e5)
    outcome = event_batch.events_process_batch(event_pks=pks)
    assert (outcome.processed, outcome.retry) == (11, 1)
    assert seen.count("e0") == 2 and seen.count("e11") == 1  # tried again, from the start
    e5 = Event.objects.get(program=batched, event_id="e5")
    assert e5.status == Event.Status.RECEIVED and "boom" in e5.error
    assert not RewardLink.objects.filter(event=e5).exists()
    # Every other event paid once: one reward per (event, rule, action) key.
    keys = list(Reward.objects.filter(program=batched).values_list("source_key", flat=True))
    assert len(keys) == len(set(keys)) == RewardLink.objects.filter(program=batched).count()
    assert reconciliation_run().status == "clean"
    monkeypatch.setattr(event_batch, "rules_evaluate_and_act", real)
    assert event_batch.events_process_batch(event_pks=[e5.pk]).processed == 1


def test_reward_ids_follow_the_order_events_happened():
    batched = program_with_rules("batched")
    event_batch.events_process_batch(event_pks=ingest(batched, 12))
    links = RewardLink.objects.filter(program=batched).order_by("reward_id")
    order = [(link.occurred_at, link.action_index) for link in links]
    assert [o for o, _ in order] == sorted(o for o, _ in order)


def test_a_batch_reads_the_limits_usage_earlier_batches_left():
    """The usage a batch reads up front (one statement) counts the earlier rewards of the
    rule, beneficiary and month, reversed ones excepted, as single processing's checks do."""
    from rules.rewards.services.rewards import reward_reverse

    def run(program: Program, pks: list[int], batched: bool) -> None:
        if batched:
            assert event_batch.events_process_batch(event_pks=pks).processed == len(pks)
        else:
            for pk in pks:
                assert event_process(event_pk=pk).status == "processed"

    programs = {}
    for batched in (False, True):
        program = program_with_rules(f"p{int(batched)}")
        pks = ingest(program, 24)
        run(program, pks[:7], batched)
        # One of ref0's commissions reversed: it counts no more.
        reversed_one = Reward.objects.filter(program=program, beneficiary="ref0").first()
        assert reversed_one is not None
        reward_reverse(reward=reversed_one, reason="test", actor="t")
        run(program, pks[7:], batched)
        programs[batched] = program
    assert relative(snapshot(programs[True])) == relative(snapshot(programs[False]))
    assert results(programs[True]) == results(programs[False])
