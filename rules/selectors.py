"""Reads used in more than one place: participants, events, facts for the engine, trees,
stats, active rules, the rule builder's overview."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, cast

from django.db import connections, router
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncDate

from config.db_router import replica_alias
from config.platform import rowsql
from config.platform.db import prepared_cursor
from config.platform.exceptions import NotFound
from config.platform.models import Program
from rules.models import (
    Event,
    Participant,
    Referral,
    Rule,
    RuleProgramConfig,
    RulePublishRequest,
    RuleScenario,
    RuleVersion,
)
from rules.rewards.models import Reward


def rules_config_get(*, program: Program) -> RuleProgramConfig:
    """A program's rules settings (fraud checks, custom triggers): the stored ones, or the
    defaults, unsaved, for a program that never changed them. Changes go through
    rules.services.program_config."""
    config = RuleProgramConfig.objects.filter(program=program).first()
    return config if config is not None else RuleProgramConfig(program=program)


# The roles of an event's facts, from the participant up its referral chain.
ROLES = ("referred", "referrer", "parent")


@functools.cache
def _upline_query(db: str, many: bool = False) -> tuple[str, list[rowsql.Columns]]:
    """A participant's referrals count, its referrer and the referrer's referrer with theirs,
    in one statement built once per process (the event pipeline runs it for every event; as
    ORM queries it was two to six, each compiled anew). `many` (PostgreSQL): for a set of
    participants (an array of ids), one row each, led by the participant's id."""
    parts = [rowsql.columns(Participant, "r1", db), rowsql.columns(Participant, "r2", db)]
    quote = connections[db].ops.quote_name
    people = quote(Participant._meta.db_table)
    referrals = quote(Referral._meta.db_table)
    referrer = quote(cast(str, Referral._meta.get_field("referrer").column))
    referred = quote(cast(str, Referral._meta.get_field("referred").column))
    me, source = (
        ("x.pid", "unnest(%s::bigint[]) AS x (pid)") if many else ("%s", "(SELECT 1 AS one) x")
    )

    def count(of: str) -> str:
        return f"(SELECT COUNT(*) FROM {referrals} c WHERE c.{referrer} = {of})"

    sql = (
        f"SELECT {'x.pid, ' if many else ''}{count(me)}, {', '.join(parts[0].sql)},"
        f" {count('r1.id')}, {', '.join(parts[1].sql)}, {count('r2.id')}"
        f" FROM {source}"
        f" LEFT JOIN {referrals} f1 ON f1.{referred} = {me}"
        f" LEFT JOIN {people} r1 ON r1.id = f1.{referrer}"
        f" LEFT JOIN {referrals} f2 ON f2.{referred} = r1.id"
        f" LEFT JOIN {people} r2 ON r2.id = f2.{referrer}"
    )
    return sql, parts


def upline(participant: Participant) -> list[tuple[Participant, int]]:
    """[(participant, its referrals count), (its referrer, ...), (the referrer's referrer,
    ...)], as far up as the chain goes (two levels at most)."""
    db = router.db_for_read(Participant)
    sql, parts = _upline_query(db)
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, [participant.pk, participant.pk])
        row = cursor.fetchone()
    return _chain(participant, row, parts, db)


def uplines(participants: list[Participant]) -> dict[int, list[tuple[Participant, int]]]:
    """upline() of each participant, by id: one statement on PostgreSQL (the event batch
    reads its events' facts so), one per participant elsewhere."""
    db = router.db_for_read(Participant)
    if connections[db].vendor != "postgresql":
        return {p.pk: upline(p) for p in participants}
    by_id = {p.pk: p for p in participants}
    sql, parts = _upline_query(db, many=True)
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, [list(by_id)])
        rows = cursor.fetchall()
    return {row[0]: _chain(by_id[row[0]], row[1:], parts, db) for row in rows}


def _chain(
    participant: Participant, row: Any, parts: list[rowsql.Columns], db: str
) -> list[tuple[Participant, int]]:
    program_field = Participant._meta.get_field("program")
    chain = [(participant, row[0])]
    start = 1
    for part in parts:
        end = start + len(part.sql)
        person = part.load(db, row[start:end])
        if person is None:
            break
        assert isinstance(person, Participant)
        if person.program_id == participant.program_id and program_field.is_cached(participant):
            person.program = participant.program  # referrals stay inside one program
        chain.append((person, row[end]))
        start = end + 1
    return chain


def _profile(participant: Participant, referrals_count: int, extra: dict[str, Any]) -> dict:
    """A participant as the engine sees it: attributes plus the computed id, joined_at,
    referrals_count and tier (SPEC §6 facts). The tier is the one rules.tiers computed (its
    key, "" for none); it wins over an attribute of that name, which a sender could set."""
    return {
        **participant.attributes,
        **extra,
        "id": participant.external_id,
        "joined_at": participant.created_at,
        "referrals_count": referrals_count,
        "tier": participant.tier,
    }


def facts_build(
    *,
    participant: Participant | None,
    user: str,
    type: str,
    occurred_at: datetime,
    data: dict[str, Any],
    extra_attributes: dict[str, Any] | None = None,
    chain: list[tuple[Participant, int]] | None = None,
) -> tuple[dict[str, Any], dict[str, Participant]]:
    """Facts for one event (interfaces.md) and the participants behind each role. A role that
    does not exist is absent, so conditions on it read as *missing*. `chain`: the
    participant's upline(), when the caller has read it already."""
    facts: dict[str, Any] = {"event": {**data, "type": type, "occurred_at": occurred_at}}
    roles: dict[str, Participant] = {}
    if participant is None:
        facts["referred"] = {
            **(extra_attributes or {}),
            "id": user,
            "joined_at": occurred_at,
            "referrals_count": 0,
        }
        return facts, roles
    extra = extra_attributes or {}
    if chain is None:
        chain = upline(participant)
    for role, (person, count) in zip(ROLES, chain, strict=False):
        roles[role] = person
        facts[role] = _profile(person, count, extra if role == "referred" else {})
    return facts, roles


def event_facts(
    event: Event, *, chain: list[tuple[Participant, int]] | None = None
) -> tuple[dict[str, Any], dict[str, Participant]]:
    return facts_build(
        participant=event.participant,
        user=event.participant.external_id,
        type=event.type,
        occurred_at=event.occurred_at,
        data=event.data,
        chain=chain,
    )


@functools.cache
def _active_rules_query(db: str) -> tuple[str, list[rowsql.Columns]]:
    parts = [rowsql.columns(Rule, "r", db), rowsql.columns(RuleVersion, "v", db)]
    quote = connections[db].ops.quote_name
    sql = (
        f"SELECT {', '.join(c for part in parts for c in part.sql)}"
        f" FROM {quote(Rule._meta.db_table)} r"
        f" JOIN {quote(RuleVersion._meta.db_table)} v ON v.id = r.active_version_id"
        " WHERE r.program_id = %s AND r.status = %s AND r.{trigger} = %s"
        " ORDER BY r.priority DESC, r.id ASC"
    ).replace("{trigger}", quote("trigger"))
    return sql, parts


def active_rule_versions(*, program: Program, trigger: str) -> list[tuple[Rule, RuleVersion]]:
    """Active rules for a trigger, highest priority first (ties: oldest rule first).

    The SQL of `Rule.objects.filter(...).select_related("active_version")`, built once per
    process: the event pipeline runs it for every event."""
    db = router.db_for_read(Rule)
    sql, parts = _active_rules_query(db)
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, [program.pk, Rule.Status.ACTIVE.value, trigger])
        rows = cursor.fetchall()
    out = []
    for row in rows:
        rule, version = rowsql.split(row, parts, db)
        assert isinstance(rule, Rule) and isinstance(version, RuleVersion)
        rule.active_version = version
        out.append((rule, version))
    return out


def referral_counts(participant: Participant) -> dict[str, int]:
    direct = Referral.objects.filter(referrer=participant).count()
    indirect = Referral.objects.filter(referrer__referral_received__referrer=participant).count()
    return {"direct": direct, "indirect": indirect}


def participant_tree(participant: Participant) -> dict[str, Any]:
    """The downline, two levels deep, in two queries."""
    direct = list(
        Referral.objects.filter(referrer=participant)
        .select_related("referred")
        .order_by("created_at", "id")
    )
    second: dict[int, list[Referral]] = {}
    for r in (
        Referral.objects.filter(referrer_id__in=[d.referred_id for d in direct])
        .select_related("referred")
        .order_by("created_at", "id")
    ):
        second.setdefault(r.referrer_id, []).append(r)

    def node(p: Participant, referred_at, children: list | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "external_id": p.external_id,
            "referral_code": p.referral_code,
            "referred_at": referred_at,
        }
        if children is not None:
            out["children"] = children
        return out

    return {
        "external_id": participant.external_id,
        "referral_code": participant.referral_code,
        "children": [
            node(
                d.referred,
                d.created_at,
                [node(c.referred, c.created_at, None) for c in second.get(d.referred_id, [])],
            )
            for d in direct
        ],
    }


def participant_get(*, program: Program, external_id: str) -> Participant:
    """The program's participant; 404 `not_found` otherwise."""
    participant = Participant.objects.filter(program=program, external_id=external_id).first()
    if participant is None:
        raise NotFound(f"No participant {external_id!r}.")
    return participant


def event_list(
    *, program: Program, event_type: str | None = None, status: str | None = None
) -> QuerySet[Event]:
    """The program's events with their participant; a non-empty `event_type` or `status`
    narrows them."""
    qs = Event.objects.using(replica_alias()).filter(program=program).select_related("participant")
    if event_type:
        qs = qs.filter(type=event_type)
    if status:
        qs = qs.filter(status=status)
    return qs


def event_get(*, program: Program, event_id: str) -> Event:
    """The program's event by its id (the client's idempotency key); 404 `not_found`."""
    event = (
        Event.objects.filter(program=program, event_id=event_id)
        .select_related("participant")
        .first()
    )
    if event is None:
        raise NotFound(f"No event {event_id!r}.")
    return event


def programs_with_rules() -> QuerySet[Program]:
    """Every program with its rules, most recently changed first, each with its active version
    and `latest_trigger` / `latest_priority`: the trigger and priority of its latest version
    (a rule's own columns are filled on publishing; a draft shows its latest version's)."""
    latest = RuleVersion.objects.filter(rule=OuterRef("pk"), version=OuterRef("latest_version"))
    rules = (
        Rule.objects.select_related("active_version")
        .annotate(
            latest_trigger=Subquery(latest.values("definition__trigger")[:1]),
            # As text cast to an integer: a JSON number read back as JSON fails on SQLite.
            latest_priority=Subquery(
                latest.annotate(
                    p=Cast(KeyTextTransform("priority", "definition"), IntegerField())
                ).values("p")[:1]
            ),
        )
        .order_by("-updated_at", "-id")
    )
    return Program.objects.prefetch_related(Prefetch("rules", queryset=rules))


# --- the partner portal (SPEC section 12) ----------------------------------------------------


def participant_by_email(*, program: Program, email: str) -> Participant | None:
    """The program's participant whose `email` attribute is `email` (any case); the oldest when
    several share it. The portal signs partners in by this address."""
    return (
        Participant.objects.filter(program=program, attributes__email__iexact=email.strip())
        .order_by("created_at", "id")
        .first()
    )


def referrals_by_day(*, participant: Participant, since: datetime) -> dict[Any, int]:
    """{UTC date: referrals the participant made that day} from `since` on."""
    rows = (
        Referral.objects.using(replica_alias())
        .filter(referrer=participant, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return dict(rows)


def top_referrers(*, program: Program, limit: int) -> list[dict[str, Any]]:
    """The program's participants who referred the most people: {"referrer": external id,
    "referrals": how many they referred, "amount": what they earned in minor units (reversed
    and clawed-back rewards left out)}, most referrals first. Someone who earned without
    referring anyone is not a referrer."""
    top = list(
        Referral.objects.using(replica_alias())
        .filter(program=program)
        .values("referrer__external_id")
        .annotate(referrals=Count("pk"))
        .order_by("-referrals", "referrer__external_id")[:limit]
    )
    ids = [row["referrer__external_id"] for row in top]
    earned = dict(
        Reward.objects.using(replica_alias())
        .filter(program=program, beneficiary__in=ids)
        .exclude(status__in=[Reward.Status.REVERSED, Reward.Status.CLAWED_BACK])
        .values("beneficiary")
        .annotate(amount=Sum("amount"))
        .values_list("beneficiary", "amount")
    )
    return [
        {
            "referrer": row["referrer__external_id"],
            "referrals": row["referrals"],
            "amount": int(earned.get(row["referrer__external_id"]) or 0),
        }
        for row in top
    ]


# --- rules and their versions ---------------------------------------------------------------


def rule_get(*, program: Program, rule_id: Any) -> Rule:
    try:
        pk = int(rule_id)
    except (TypeError, ValueError):
        raise NotFound(f"No rule {rule_id!r}.") from None
    rule = Rule.objects.filter(program=program, pk=pk).select_related("active_version").first()
    if rule is None:
        raise NotFound(f"No rule {rule_id!r}.")
    return rule


def rule_version_get(*, rule: Rule, version: int | None = None) -> RuleVersion:
    """A version of the rule; the latest when `version` is None."""
    number = rule.latest_version if version is None else version
    found = RuleVersion.objects.filter(rule=rule, version=number).first()
    if found is None:
        raise NotFound(f"Rule {rule.pk} has no version {number}.")
    return found


def rule_list(*, program: Program, status: str | None = None) -> QuerySet[Rule]:
    """A program's rules (with their active versions), optionally of one status."""
    rules = Rule.objects.filter(program=program).select_related("active_version")
    return rules.filter(status=status) if status else rules


def rule_latest_versions(rules: list[Rule]) -> dict[int, RuleVersion]:
    """Each rule's latest version, by rule id, in one query (a list page shows them)."""
    wanted = Q(pk__in=[])
    for rule in rules:
        wanted |= Q(rule_id=rule.pk, version=rule.latest_version)
    return {v.rule_id: v for v in RuleVersion.objects.filter(wanted)}


def rule_version_list(*, rule: Rule) -> QuerySet[RuleVersion]:
    return RuleVersion.objects.filter(rule=rule).select_related("rule")


def rule_scenario_list(*, rule: Rule) -> QuerySet[RuleScenario]:
    return RuleScenario.objects.filter(rule=rule)


def rule_scenario_get(*, rule: Rule, scenario_id: Any) -> RuleScenario:
    """One of the rule's scenarios; NotFound for another rule's or an unknown id."""
    try:
        pk = int(scenario_id)
    except (TypeError, ValueError):
        raise NotFound(f"No scenario {scenario_id!r}.") from None
    found = RuleScenario.objects.filter(rule=rule, pk=pk).first()
    if found is None:
        raise NotFound(f"Rule {rule.pk} has no scenario {scenario_id!r}.")
    return found


def rules_waiting_for_approval() -> set[int]:
    """Ids of rules with a publish request waiting for a second person."""
    pending = RulePublishRequest.objects.filter(status=RulePublishRequest.Status.PENDING)
    return set(pending.values_list("rule_id", flat=True))
