"""Demo data, so a new user sees a living system. Safe to run again: it adds nothing twice
(participants are upserted, referrals and rules are looked up first, events carry fixed ids
and times, and processing pays each action once)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from config.platform.models import Program
from rules.models import Event, Referral, Rule
from rules.rewards.demo import seed_operations
from rules.rewards.services.programs import program_create
from rules.services.events import event_ingest
from rules.services.participants import participant_upsert
from rules.services.processing import event_process
from rules.services.referrals import referral_create
from rules.services.rules import rule_create, rule_publish

DEMO_SLUG = "demo"
ACTOR = "command:seed_demo"

PARTICIPANTS: dict[str, dict[str, Any]] = {
    "alice": {"email": "alice@example.com", "is_paid_user": True, "country": "IN"},
    "bob": {"email": "bob@example.com", "is_paid_user": True, "country": "IN"},
    "carol": {"email": "carol@example.com", "is_paid_user": False, "country": "IN"},
    "dave": {"email": "dave@example.com", "country": "IN"},
    "erin": {"email": "erin@example.com", "country": "US"},
    "frank": {"email": "frank@example.com", "country": "IN"},
}
# referrer → referred: alice at the top, two levels below her.
REFERRALS = [
    ("alice", "bob"),
    ("alice", "carol"),
    ("bob", "dave"),
    ("bob", "erin"),
    ("carol", "frank"),
]

PREMIUM_RULE = {  # the SPEC §6 example
    "name": "Premium referral reward",
    "trigger": "subscription_started",
    "priority": 10,
    "stop_processing": False,
    "conditions": {
        "operator": "AND",
        "conditions": [
            {"field": "referrer.is_paid_user", "operator": "equals", "value": True},
            {"field": "referred.subscription_plan", "operator": "equals", "value": "premium"},
        ],
    },
    "actions": [
        {
            "type": "credit_reward",
            "params": {
                "beneficiary": "referrer",
                "amount": 50000,
                "currency": "INR",
                "reward_type": "voucher",
            },
        }
    ],
}
COMMISSION_RULE = {  # two-level affiliate commission: 10% direct, 2% to the referrer's referrer
    "name": "Two-level purchase commission",
    "trigger": "purchase",
    "priority": 5,
    "stop_processing": False,
    "conditions": {
        "operator": "AND",
        "conditions": [{"field": "event.amount", "operator": "greater_than", "value": 0}],
    },
    "actions": [
        {
            "type": "percent_commission",
            "params": {
                "beneficiary": "referrer",
                "rate_bps": 1000,
                "of": "event.amount",
                "reward_type": "cash",
                "cap": 500000,
            },
        },
        {
            "type": "percent_commission",
            "params": {
                "beneficiary": "parent",
                "rate_bps": 200,
                "of": "event.amount",
                "reward_type": "cash",
                "cap": 100000,
            },
        },
    ],
    "limits": {"per_beneficiary": {"max_rewards": 20, "period": "month"}},
}
SIGNUP_RULE = {
    "name": "Welcome credits for referred signups",
    "trigger": "signup",
    "priority": 0,
    "stop_processing": False,
    "conditions": {
        "operator": "AND",
        "conditions": [{"field": "referrer.id", "operator": "exists"}],
    },
    "actions": [
        {
            "type": "award_credits",
            "params": {"beneficiary": "referred", "operation": "SIGNUP_CREDIT"},
        }
    ],
}
RULES = [PREMIUM_RULE, COMMISSION_RULE, SIGNUP_RULE]

# (id, type, user, minutes after the program's creation, attributes, data)
EVENTS: list[tuple[str, str, str, int, dict[str, Any], dict[str, Any]]] = [
    ("demo-signup-bob", "signup", "bob", 10, {}, {"source": "web"}),
    ("demo-signup-dave", "signup", "dave", 20, {}, {"source": "app"}),
    (
        "demo-sub-bob",
        "subscription_started",
        "bob",
        30,
        {"subscription_plan": "premium"},
        {"plan": "premium", "amount": 99900, "currency": "INR"},
    ),
    (
        "demo-sub-carol",
        "subscription_started",
        "carol",
        40,
        {"subscription_plan": "basic"},
        {"plan": "basic", "amount": 29900, "currency": "INR"},
    ),
    (
        "demo-purchase-dave",
        "purchase",
        "dave",
        50,
        {},
        {"order_id": "A-1001", "amount": 250000, "currency": "INR"},
    ),
    (
        "demo-purchase-erin",
        "purchase",
        "erin",
        60,
        {},
        {"order_id": "A-1002", "amount": 120000, "currency": "INR"},
    ),
    (
        "demo-purchase-frank",
        "purchase",
        "frank",
        70,
        {},
        {"order_id": "A-1003", "amount": 80000, "currency": "INR"},
    ),
    (
        "demo-refund-erin",
        "refund",
        "erin",
        90,
        {},
        {"original_event_id": "demo-purchase-erin", "amount": 120000, "currency": "INR"},
    ),
]


def seed_rules(program: Program) -> list[Rule]:
    rules = []
    for definition in RULES:
        rule = Rule.objects.filter(program=program, name=definition["name"]).first()
        if rule is None:
            rule = rule_create(program=program, definition=definition, actor=ACTOR)
        if rule.status == Rule.Status.DRAFT:
            rule = rule_publish(rule=rule, actor=ACTOR)
        rules.append(rule)
    return rules


def seed_graph(program: Program) -> None:
    for external_id, attributes in PARTICIPANTS.items():
        participant_upsert(
            program=program, external_id=external_id, attributes=attributes, actor=ACTOR
        )
    for referrer, referred in REFERRALS:
        if not Referral.objects.filter(program=program, referred__external_id=referred).exists():
            referral_create(program=program, referrer=referrer, referred=referred, actor=ACTOR)


def seed_events(program: Program) -> list[Event]:
    events = []
    for event_id, type_, user, minutes, attributes, data in EVENTS:
        event, _ = event_ingest(
            program=program,
            event_id=event_id,
            type=type_,
            user=user,
            occurred_at=program.created_at + timedelta(minutes=minutes),
            attributes=attributes,
            data=data,
            actor=ACTOR,
        )
        # Processed here whatever the broker setting, so the demo is complete on return; a
        # worker that also picks the event up finds it done.
        event_process(event_pk=event.pk)
        events.append(event)
    # referral_created events emitted by the referrals above
    for pk in Event.objects.filter(program=program, status=Event.Status.RECEIVED).values_list(
        "pk", flat=True
    ):
        event_process(event_pk=pk)
    return events


class Command(BaseCommand):
    help = "Create a demo program with participants, referrals, rules, events and rewards."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--demo-user",
            action="store_true",
            help="Also create the superuser demo / demo (always done when DEBUG is on).",
        )

    def handle(self, *args, **opts):
        program, created = program_create(
            slug=DEMO_SLUG, name="Demo Referral Program", currency="INR", actor=ACTOR
        )
        # A known password is only for a development machine or an explicit request.
        if settings.DEBUG or opts["demo_user"]:
            User = get_user_model()
            if not User.objects.filter(username="demo").exists():
                User.objects.create_superuser("demo", "demo@example.com", "demo")
                self.stdout.write("Created staff user demo / password demo")
        else:
            self.stdout.write(
                "No demo login created (DEBUG is off). Create a user with "
                "'python manage.py createsuperuser', or run seed_demo --demo-user."
            )
        # Rules first, so the events below are decided by them.
        rules = seed_rules(program)
        seed_graph(program)
        events = seed_events(program)
        # Operations: a payout batch awaiting approval, a held reward, a clean reconciliation.
        seed_operations(program)
        self.stdout.write(
            f"{len(PARTICIPANTS)} participants, {len(REFERRALS)} referrals, "
            f"{len(rules)} published rules, {len(events)} demo events."
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo program '{program.slug}' {'created' if created else 'ready'}."
            )
        )
