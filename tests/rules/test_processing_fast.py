"""The worker's per-event statements (processing `_claim_sql`, `_event_locked`, `_mark_sql`;
actions `_reward_with_key`, `_link_insert`; selectors.active_rule_versions and upline) read and
write what the ORM queries they replace did, and keep the pipeline's guarantees."""

from __future__ import annotations

import itertools

import django
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rules.models import Event, Participant, Referral, RewardLink, Rule, RuleVersion
from rules.rewards.models import Reward
from rules.selectors import active_rule_versions, facts_build, upline
from rules.services import processing
from rules.services.processing import event_process
from tests.rules.conftest import ALWAYS, reward_action, rule_def

READS_DJANGO6_QUERY_LOG = pytest.mark.skipif(
    django.VERSION < (6,), reason="counts statements in Django 6's query log"
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held(monkeypatch):
    """Ingest without processing on commit, so the test processes the event itself."""
    from rules.services import handoff

    monkeypatch.setattr(handoff, "_enqueue", lambda pk, **kwargs: None)


def test_active_rule_versions_match_the_orm_query(program, publish):
    from rules.services.rules import rule_create

    low = publish(rule_def(trigger="purchase", priority=1, conditions=ALWAYS))
    high = publish(rule_def(trigger="purchase", priority=9, conditions=ALWAYS))
    tie = publish(rule_def(trigger="purchase", priority=9, conditions=ALWAYS))
    publish(rule_def(trigger="signup", priority=5, conditions=ALWAYS))
    rule_create(program=program, definition=rule_def(trigger="purchase"), actor="t")  # draft
    expected: list[tuple[Rule, RuleVersion]] = []
    for rule in (
        Rule.objects.filter(program=program, status="active", trigger="purchase")
        .select_related("active_version")
        .order_by("-priority", "id")
    ):
        assert rule.active_version is not None  # an active rule has one (a constraint)
        expected.append((rule, rule.active_version))
    got = active_rule_versions(program=program, trigger="purchase")
    assert [(r.pk, v.pk) for r, v in got] == [
        (high.pk, high.active_version_id),
        (tie.pk, tie.active_version_id),
        (low.pk, low.active_version_id),
    ]
    assert [(r.pk, v.pk) for r, v in got] == [(r.pk, v.pk) for r, v in expected]
    for (rule, version), (orm_rule, orm_version) in zip(got, expected, strict=True):
        for field in Rule._meta.concrete_fields:
            assert getattr(rule, field.attname) == getattr(orm_rule, field.attname)
        assert version.definition == orm_version.definition
        assert version.created_at == orm_version.created_at
    assert active_rule_versions(program=program, trigger="refund") == []


def test_the_locked_read_is_the_orm_instance(program, ingest, held):
    from django.db import transaction

    event = ingest("e-1", "purchase", "bob", data={"amount": 5, "tags": ["a"]})
    with transaction.atomic():
        fast = processing._event_locked(event.pk)
    orm = Event.objects.select_related("program", "participant").get(pk=event.pk)
    for field in Event._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(orm, field.attname), field.name
    assert fast.program.slug == orm.program.slug and fast.program.currency == "INR"
    assert fast.participant.external_id == "bob"
    assert fast.participant.referral_code == orm.participant.referral_code


def test_processing_writes_the_reward_its_link_and_the_results(program, publish, ingest, held):
    publish(
        rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(700, "referred")])
    )
    event = ingest("e-1", "purchase", "bob")
    assert event_process(event_pk=event.pk).status == "processed"
    assert event_process(event_pk=event.pk).status == "skipped"  # done: never twice
    stored = Event.objects.get(pk=event.pk)
    [reward] = Reward.objects.all()
    [link] = RewardLink.objects.all()
    assert (stored.status, stored.attempts, stored.error) == ("processed", 1, "")
    assert stored.processed_at is not None and stored.next_attempt_at is None
    assert stored.results[0]["rewards"] == [reward.pk] and stored.refund is None
    assert (link.reward_id, link.event_id, link.beneficiary, link.amount) == (
        reward.pk,
        event.pk,
        "bob",
        700,
    )
    assert link.occurred_at == stored.occurred_at and link.action_index == 0


def test_a_retry_after_the_reward_was_paid_pays_nothing_twice(program, publish, ingest, held):
    """An attempt that died after booking (here: the reward and link committed, the event was
    handed back) records the existing reward instead of paying again."""
    publish(
        rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(700, "referred")])
    )
    event = ingest("e-1", "purchase", "bob")
    assert event_process(event_pk=event.pk).status == "processed"
    Event.objects.filter(pk=event.pk).update(status="received")  # as the sweeper hands it back
    assert event_process(event_pk=event.pk).status == "processed"
    stored = Event.objects.get(pk=event.pk)
    assert Reward.objects.count() == 1 and RewardLink.objects.count() == 1
    assert stored.results[0]["rewards"] == [Reward.objects.get().pk] and stored.attempts == 2


def test_a_claimed_event_is_not_claimed_again(program, ingest, held):
    event = ingest("e-1", "purchase", "bob")
    assert processing.event_claim(event_pk=event.pk) == 1
    assert processing.event_claim(event_pk=event.pk) is None
    stored = Event.objects.get(pk=event.pk)
    assert (stored.status, stored.attempts) == ("processing", 1)
    assert stored.claimed_at is not None


@READS_DJANGO6_QUERY_LOG
@pytest.mark.postgres
def test_statements_per_event(program, publish, ingest, held):
    """A one-rule event of a user without a referrer: claim, lock and read, the upline (referral
    count and referrer), active rules, the key check, the booking (ledger, with its savepoint),
    the link and the result; 22-23 statements before these changes, 15 before the upline was
    one statement."""
    publish(
        rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(700, "referred")])
    )
    first = ingest("e-0", "purchase", "bob")
    event_process(event_pk=first.pk)  # opens bob's account
    event = ingest("e-1", "purchase", "bob")
    with CaptureQueriesContext(connection) as queries:
        assert event_process(event_pk=event.pk).status == "processed"
    assert len(queries) <= 14, "\n".join(q["sql"][:120] for q in queries)


def _orm_profile(person: Participant) -> tuple[Participant, int]:
    return person, Referral.objects.filter(referrer=person).count()


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_upline_is_what_the_orm_reads(program, refer, depth):
    """The referred, its referrer and the referrer's referrer (never further), each with its
    referrals count, as the ORM queries it replaces read them; one statement."""
    names = ["top", "mid", "low", "leaf"][3 - depth :]
    for referrer, referred in itertools.pairwise(names):
        refer(referrer, referred)
    refer(names[0], "sibling")  # counts, and is nobody's upline
    leaf = Participant.objects.get(program=program, external_id=names[-1])
    expected: list[tuple[Participant, int]] = []
    person: Participant | None = leaf
    while person is not None and len(expected) < 3:
        expected.append(_orm_profile(person))
        referral = Referral.objects.filter(referred=person).first()
        person = referral.referrer if referral else None
    with CaptureQueriesContext(connection) as queries:
        chain = upline(leaf)
    assert len(queries) == 1
    assert [(p.pk, n) for p, n in chain] == [(p.pk, n) for p, n in expected]
    for (got, _), (orm, _) in zip(chain, expected, strict=True):
        for field in Participant._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(orm, field.attname)
    facts, roles = facts_build(
        participant=leaf,
        user=leaf.external_id,
        type="purchase",
        occurred_at=leaf.created_at,
        data={},
        extra_attributes={"plan": "pro"},
    )
    assert list(roles) == ["referred", "referrer", "parent"][: len(expected)]
    assert facts["referred"]["plan"] == "pro"
    for role, (person, count) in zip(roles, expected, strict=True):
        assert roles[role].pk == person.pk
        assert facts[role]["id"] == person.external_id
        assert facts[role]["referrals_count"] == count
        assert facts[role]["joined_at"] == person.created_at
        if role != "referred":
            assert "plan" not in facts[role]
