"""Demo data, so a new user sees a living system. Safe to run again: it adds nothing twice
(participants are upserted, referrals and rules are looked up first, events carry fixed ids
and times, and processing pays each action once)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from config.platform.models import Program
from rules.links.bots import is_bot
from rules.links.models import Click, Coupon, ReferralLink
from rules.links.services.clicks import visitor_hash
from rules.links.services.coupons import coupon_create
from rules.links.services.links import referral_link_create
from rules.links.services.rollup import clicks_rollup_day
from rules.models import Event, Participant, Referral, Rule
from rules.rewards.demo import seed_operations
from rules.rewards.models import Reward
from rules.rewards.services.program_settings import program_update
from rules.rewards.services.programs import program_create
from rules.rewards.services.rewards import reward_confirm
from rules.services.events import event_ingest
from rules.services.participants import participant_upsert
from rules.services.processing import event_process
from rules.services.referrals import referral_create
from rules.services.rules import rule_create, rule_publish
from rules.services.scenarios import scenario_create, scenarios_of
from rules.tiers.selectors import tier_list
from rules.tiers.services import tiers_replace

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


# Partner tiers over the last 90 days (docs/RULES.md §7); revenue in minor units (paise).
TIERS = [
    {"key": "bronze", "name": "Bronze", "rank": 1, "criteria": {}},
    {"key": "silver", "name": "Silver", "rank": 2, "criteria": {"min_conversions": 2}},
    {
        "key": "gold",
        "name": "Gold",
        "rank": 3,
        "criteria": {"min_referred_revenue": 300000, "min_active_referrals": 2},
    },
]
# A saved test on the SPEC example rule: a premium subscriber referred by a paid user pays.
PREMIUM_SCENARIO: dict[str, Any] = {
    "name": "A premium subscriber referred by a paid user pays the referrer",
    "event": {
        "type": "subscription_started",
        "user": "bob",
        "occurred_at": datetime(2026, 1, 5, 10, tzinfo=UTC),
        "attributes": {"subscription_plan": "premium"},
    },
    "expect": {"matched": True},
}


def seed_tiers_and_scenarios(program: Program, rules: list[Rule]) -> None:
    """Tiers (recomputed for every partner) and a scenario on the premium rule, so the portal
    shows a tier and the builder a passing saved test. Running it again changes nothing."""
    if not tier_list(program=program):
        tiers_replace(program=program, tiers=TIERS, actor=ACTOR)
    premium = next(r for r in rules if r.name == PREMIUM_RULE["name"])
    if not scenarios_of(premium):
        scenario_create(rule=premium, actor=ACTOR, **PREMIUM_SCENARIO)


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


# --- referral links, clicks and attribution (SPEC section 11) ----------------------------------

LANDING = {
    "landing_url": "https://shop.example.com/welcome",
    "allowed_domains": ["example.com"],
    "attribution_window_days": 30,
}
PORTAL_PARTNER = "alice"  # the demo partner who signs in to the portal (README, "make run")
CLICK_DAYS = 60
# (participant, named link or None for /r/{code}, destination, share of the day's clicks)
LINKS: list[tuple[str, str | None, str, float]] = [
    ("alice", None, "", 0.45),
    ("alice", "newsletter", "https://shop.example.com/pricing?plan=premium", 0.2),
    ("bob", None, "", 0.25),
    ("carol", None, "", 0.1),
]
COUPONS = [("alice", "ALICE10")]
BROWSERS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0 Mobile",
]
BOTS = ["Googlebot/2.1 (+http://www.google.com/bot.html)", "Slackbot-LinkExpanding 1.0", "curl/8.5"]
REFERRERS = ["", "", "t.co", "www.facebook.com", "mail.google.com", "www.reddit.com"]
CLICK_NAMESPACE = uuid.UUID("6f1d0c1e-5d2b-4c55-9a64-2a1f7f3c0d13")


def seed_links(program: Program) -> dict[tuple[str, str | None], ReferralLink | None]:
    """The program's landing page (when it has none yet), the named links and the coupon."""
    if not program.landing_url:
        program = program_update(program=program, changes=LANDING, actor=ACTOR)
    links: dict[tuple[str, str | None], ReferralLink | None] = {}
    for external_id, slug, destination, _ in LINKS:
        participant = Participant.objects.get(program=program, external_id=external_id)
        link = None
        if slug is not None:
            link = ReferralLink.objects.filter(participant=participant, slug=slug).first()
            if link is None:
                link = referral_link_create(
                    participant=participant, slug=slug, destination=destination, actor=ACTOR
                )
        links[(external_id, slug)] = link
    for external_id, code in COUPONS:
        if not Coupon.objects.filter(program=program, code=code).exists():
            participant = Participant.objects.get(program=program, external_id=external_id)
            coupon_create(participant=participant, code=code, actor=ACTOR)
    return links


def _day_volume(rng: random.Random, day: datetime, age: int) -> int:
    """Clicks of one day: a slow rise over the 60 days, quieter weekends, noise, and the
    newsletter's send day three weeks ago."""
    base = 12 + 0.4 * (CLICK_DAYS - age)
    if day.weekday() >= 5:
        base *= 0.55
    if age == 21:
        base *= 3.5
    return max(0, round(rng.gauss(base, base * 0.25)))


def _pick_link(pick: float) -> tuple[str, str | None]:
    """The link a click lands on, by the links' shares of the day (pick: 0 to 1)."""
    for external_id, slug, _, share in LINKS:
        pick -= share
        if pick < 0:
            return external_id, slug
    return LINKS[0][0], LINKS[0][1]


def seed_clicks(program: Program, links: dict[tuple[str, str | None], ReferralLink | None]) -> int:
    """About 1,500 clicks over the last CLICK_DAYS days (UTC), written as the redirect would
    write them (visitor hashes, bots flagged), then rolled up. Idempotent: the clicks' ids are
    derived from their rank, so a rerun, even on a later day, inserts nothing twice; it happens
    once per database (a later run keeps the first run's dates)."""
    rng = random.Random(13)  # the same demo on every machine
    participants = {
        p.external_id: p
        for p in Participant.objects.filter(
            program=program, external_id__in={external_id for external_id, *_ in LINKS}
        )
    }
    now = datetime.now(UTC)
    today = now.date()
    # Returning visitors: a pool of people, some of whom come back on other days.
    visitors = [
        (f"198.51.100.{n % 250}", BROWSERS[n % len(BROWSERS)], REFERRERS[n % len(REFERRERS)])
        for n in range(600)
    ]
    clicks: list[Click] = []
    for age in range(CLICK_DAYS - 1, -1, -1):
        day = today - timedelta(days=age)
        start = datetime.combine(day, time.min, tzinfo=UTC)
        seconds = int((now - start).total_seconds()) if age == 0 else 86399
        for _ in range(_day_volume(rng, start, age)):
            external_id, slug = _pick_link(rng.random())
            if age != 21 and slug == "newsletter" and rng.random() < 0.7:
                external_id, slug = "alice", None  # the newsletter link mostly on its day
            bot = rng.random() < 0.08
            # Zipf-like: a few visitors come back often, most once.
            ip, agent, referrer = visitors[min(int(rng.paretovariate(1.2)) - 1, 599)]
            if rng.random() < 0.6:
                ip, agent, referrer = visitors[rng.randrange(600)]
            if bot:
                agent, referrer = rng.choice(BOTS), ""
            at = start + timedelta(seconds=rng.randint(0, max(seconds, 0)))
            clicks.append(
                Click(
                    id=uuid.uuid5(CLICK_NAMESPACE, f"{program.slug}:{len(clicks)}"),
                    at=at,
                    program=program,
                    participant=participants[external_id],
                    link=links[(external_id, slug)],
                    visitor_hash=visitor_hash(ip, agent),
                    referrer_host=referrer,
                    utm={"source": "newsletter", "medium": "email"} if slug else {},
                    is_bot=is_bot(agent),
                )
            )
    Click.objects.bulk_create(clicks, batch_size=500, ignore_conflicts=True)
    first = Click.objects.filter(program=program).order_by("at").values_list("at", flat=True)[:1]
    since = first[0].astimezone(UTC).date() if first else today
    for offset in range((today - since).days + 1):
        clicks_rollup_day(since + timedelta(days=offset))
    return Click.objects.filter(program=program).count()


def _click_of(program: Program, external_id: str, days_ago: int, slug: str | None = None):
    """A human click on the participant's link about `days_ago` days ago (the latest one that
    old or older)."""
    clicks = Click.objects.filter(
        program=program,
        participant__external_id=external_id,
        is_bot=False,
        at__lte=datetime.now(UTC) - timedelta(days=days_ago),
    )
    clicks = clicks.filter(link__slug=slug) if slug else clicks.filter(link=None)
    return clicks.order_by("-at").first()


def seed_conversions(program: Program) -> list[Event]:
    """People who came through the links: attributed by click id and by coupon, and some that
    are not (an expired click, an unknown click id, an unknown coupon), each event once."""
    now = datetime.now(UTC)
    # (event id, type, user, click: (partner, days ago, slug) | None, coupon, data, hours later)
    plan: list[tuple[str, str, str, Any, str, dict[str, Any], int]] = [
        ("demo-link-signup-gina", "signup", "gina", ("alice", 12, None), "", {}, 1),
        ("demo-link-signup-hank", "signup", "hank", ("alice", 21, "newsletter"), "", {}, 2),
        ("demo-link-signup-judy", "signup", "judy", ("bob", 8, None), "", {}, 3),
        ("demo-link-expired-kim", "signup", "kim", ("carol", 45, None), "", {}, 0),
        ("demo-link-unknown-leo", "signup", "leo", "unknown", "", {}, 0),
        ("demo-coupon-ivy", "purchase", "ivy", None, "alice10", {"amount": 180000}, 0),
        ("demo-coupon-unknown-mia", "purchase", "mia", None, "SPRING99", {"amount": 5000}, 0),
    ]
    purchases = {"gina": 250000, "hank": 99000, "judy": 60000}
    events: list[Event] = []
    for event_id, type_, user, click_spec, coupon, data, hours in plan:
        if Event.objects.filter(program=program, event_id=event_id).exists():
            continue
        click_id = None
        at = now - timedelta(days=2)
        if click_spec == "unknown":
            click_id = str(uuid.uuid5(CLICK_NAMESPACE, "no such click"))
        elif click_spec is not None:
            click = _click_of(program, *click_spec)
            if click is None:
                continue
            click_id = str(click.id)
            at = now if click_spec[1] > LANDING["attribution_window_days"] else click.at
        event, _ = event_ingest(
            program=program,
            event_id=event_id,
            type=type_,
            user=user,
            occurred_at=min(at + timedelta(hours=hours), now),
            data={**data, "currency": program.currency} if data else {"source": "web"},
            click_id=click_id,
            coupon=coupon or None,
            actor=ACTOR,
        )
        events.append(event)
        if user in purchases and (event.attribution or {}).get("status") == "attributed":
            purchase, _ = event_ingest(
                program=program,
                event_id=f"demo-link-purchase-{user}",
                type="purchase",
                user=user,
                occurred_at=min(event.occurred_at + timedelta(days=1), now),
                data={"amount": purchases[user], "currency": program.currency},
                actor=ACTOR,
            )
            events.append(purchase)
    for event in events:
        event_process(event_pk=event.pk)
    for pk in Event.objects.filter(program=program, status=Event.Status.RECEIVED).values_list(
        "pk", flat=True
    ):
        event_process(event_pk=pk)
    # One of the link commissions confirmed, so the portal shows pending and confirmed money.
    gina = Reward.objects.filter(
        program=program,
        beneficiary=PORTAL_PARTNER,
        rule_link__event__event_id="demo-link-purchase-gina",
    ).first()
    if gina is not None and gina.status == Reward.Status.PENDING and not gina.hold_reason:
        reward_confirm(reward=gina, actor=ACTOR)
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
        links = seed_links(program)
        program.refresh_from_db()  # the landing page and window seed_links may have set
        clicks = seed_clicks(program, links)
        seed_conversions(program)
        seed_tiers_and_scenarios(program, rules)
        self.stdout.write(
            f"{len(links)} referral links with {clicks} clicks over the last {CLICK_DAYS} days, "
            "conversions through links and a coupon."
        )
        self.stdout.write(
            f"{len(PARTICIPANTS)} participants, {len(REFERRALS)} referrals, "
            f"{len(rules)} published rules, {len(events)} demo events."
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo program '{program.slug}' {'created' if created else 'ready'}."
            )
        )
        # The portal is a front end (builder.portal), above this layer: its own command makes
        # the sign-in link (`make run` calls it right after this one).
        self.stdout.write(
            f"Partner portal: sign in as the demo partner {PORTAL_PARTNER} with the link that "
            f"'python manage.py portal_signin_link {program.slug} {PORTAL_PARTNER}' prints."
        )
