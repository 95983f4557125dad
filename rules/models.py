"""Referrals and rules: design overview.

A **Participant** is a program's end user, known by the program's own ``external_id``, with free
attributes (merged on every upsert or event) and a referral code. A **Referral** links a
referrer to a referred participant; the referred side is unique (one referrer each) and the
service refuses self-referrals and cycles under a per-program lock.

An **Event** is a durable intent: stored with its external ``event_id`` as the idempotency key,
then processed after commit (a Celery task when a broker is configured, inline otherwise).
Processing claims the row, evaluates the active rules for its type and runs their actions
through the ledger services with deterministic keys, so no retry or crash pays twice. The
``results`` name the rule version that decided each outcome.

A **Rule** has immutable **RuleVersion** rows; publishing points the rule at one version (roll
back = publish an older one). The active version's trigger and priority are copied onto the
rule so one indexed query finds what to evaluate. **RewardLink** records which rewards an
event's rule action created: refunds, per-rule limits and budgets read it. **RuleProgramConfig**
holds a program's rules-side settings (custom triggers, fraud thresholds).

The ledger knows nothing of this app; it sees beneficiaries as external ids and rewards as
carrying a ``source_key`` of the form ``evt:{event}:rule:{version}:act:{index}``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.platform.models import Program
from rules.catalog import custom_catalog_errors

# The referral money domain's models (app label `ledger`) register with Django through this import.
from rules.rewards.models import Reward


class RuleProgramConfig(models.Model):
    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="rules_config")
    custom_catalog = models.JSONField(
        default=dict,
        blank=True,
        help_text='Custom triggers and fields: {"triggers": {name: {"fields": {path: type}}}}',
    )
    fraud_max_referrals_per_hour = models.PositiveIntegerField(
        default=0,
        help_text="Hold rewards of a referrer who made more referrals than this in the last "
        "hour (0: off)",
    )
    fraud_match_attributes = models.JSONField(
        default=list,
        blank=True,
        help_text="Attributes that must differ between referrer and referred "
        '(default ["email", "device_id", "ip"]); a match holds the reward',
    )
    rules_publish_requires_approval = models.BooleanField(
        default=False,
        help_text="Publishing a rule needs a second person: a publish makes a request that "
        "someone other than its requester approves",
    )

    class Meta:
        verbose_name = "rules settings"
        verbose_name_plural = "rules settings"
        permissions = [
            # Switching two-person publishing off lets one person publish alone: not a rule
            # author's to decide (change_ruleprogramconfig may only switch it on).
            ("switch_off_publish_approval", "Can switch two-person rule publishing off"),
        ]

    def __str__(self) -> str:
        return f"Rules settings of {self.program.slug}"

    def clean(self) -> None:
        errors = custom_catalog_errors(self.custom_catalog)
        if errors:
            raise ValidationError({"custom_catalog": errors})


# \A and \Z mean the same in PostgreSQL's and Python's (SQLite's REGEXP) regular expressions.
PARTICIPANT_ID_CHECK = r"\A[A-Za-z0-9_.@-]{1,200}\Z"


class Participant(models.Model):
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="participants", db_index=False
    )
    external_id = models.CharField(max_length=255)
    attributes = models.JSONField(default=dict, blank=True)
    referral_code = models.CharField(max_length=32)
    # The partner tier's key (rules.tiers), "" for none: rules read it as `referrer.tier`.
    tier = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "external_id"], name="participant_external_id_unique"
            ),
            # Unique across programs: a short link /r/{referral_code} names no program.
            models.UniqueConstraint(
                fields=["referral_code"], name="participant_referral_code_unique"
            ),
            # The ledger pays into user:{external_id}:rewards: the id must be one segment of an
            # account code (config.platform.identifiers.PARTICIPANT_ID_RE), or it is never paid.
            models.CheckConstraint(
                condition=Q(external_id__regex=PARTICIPANT_ID_CHECK),
                name="participant_external_id_payable",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class Referral(models.Model):
    # No index of its own: referral_program_time (program, created_at) serves lookups by program.
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="referrals", db_index=False
    )
    referrer = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="referrals_made", db_index=False
    )
    # One referrer per participant: the database refuses a second referral of the same person.
    referred = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="referral_received"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["referrer", "created_at"], name="referral_referrer_time"),
            # Analytics: the program's referrals per day.
            models.Index(fields=["program", "created_at"], name="referral_program_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(referrer=models.F("referred")), name="referral_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} → {self.referred_id}"


class Event(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSING = "processing"
        PROCESSED = "processed"
        FAILED = "failed"

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    event_id = models.CharField(max_length=255, help_text="The sender's id: the idempotency key")
    type = models.CharField(max_length=100)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="events")
    occurred_at = models.DateTimeField(db_index=True)
    attributes = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True)
    body_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    results = models.JSONField(default=list, blank=True)
    refund = models.JSONField(null=True, blank=True)
    # Set when the event came with a click_id or coupon (rules.links.attribution):
    # {"status": "attributed"|"expired"|"unknown"|"self"|..., "reason", ...}.
    attribution = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The queue (received, processing) and the failures: a processed event, which
            # nearly every event becomes, leaves it, so marking one processed adds no entry.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="event_status_due",
                condition=Q(status__in=["received", "processing", "failed"]),
            ),
            models.Index(fields=["program", "type", "occurred_at"], name="event_type_time"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["program", "event_id"], name="event_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} ({self.status})"


class Rule(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        ARCHIVED = "archived"

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="rules", db_index=False
    )
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    latest_version = models.PositiveIntegerField(default=1)
    active_version = models.ForeignKey(
        "RuleVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Copies of the active version's trigger and priority: the pipeline's one indexed query.
    trigger = models.CharField(max_length=100, blank=True)
    priority = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["program", "status", "trigger"], name="rule_active_trigger")
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="active") | Q(active_version__isnull=False),
                name="rule_active_has_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class RuleVersion(models.Model):
    """Immutable: a change is a new version (services never update these rows)."""

    rule = models.ForeignKey(
        Rule, on_delete=models.PROTECT, related_name="versions", db_index=False
    )
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=255)

    class Meta:
        ordering = ["rule", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "version"], name="rule_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.version}"


class RewardLink(models.Model):
    """Which reward an event's rule action created (refunds, limits and budgets read it)."""

    # No index of its own: rewardlink_program_time serves lookups by program.
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="reward_links")
    rule = models.ForeignKey(
        Rule, on_delete=models.PROTECT, related_name="reward_links", db_index=False
    )
    rule_version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="+")
    action_index = models.PositiveSmallIntegerField()
    reward = models.OneToOneField(Reward, on_delete=models.PROTECT, related_name="rule_link")
    beneficiary = models.CharField(max_length=255)
    amount = models.BigIntegerField()
    # The event's time: limit periods are counted on it, so a retry decides the same way.
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["rule", "beneficiary", "occurred_at"], name="rewardlink_limits"),
            # Analytics: conversions (events that rewarded someone) per day, of the program and
            # of one beneficiary.
            models.Index(
                fields=["program", "occurred_at", "event"],
                name="rewardlink_program_time",
            ),
            models.Index(
                fields=["program", "beneficiary", "occurred_at", "event"],
                name="rewardlink_beneficiary_time",
            ),
        ]


class RuleScenario(models.Model):
    """A saved test of a rule: an event (as POST P/rules/{id}/test takes it) and the expected
    outcome. Scenarios run on every save; publishing is refused while one fails."""

    # No index of its own: rule_scenario_name_unique leads with the rule.
    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, related_name="scenarios", db_index=False
    )
    name = models.CharField(max_length=200)
    event = models.JSONField()
    # {"matched": bool, "rewards": [{"beneficiary", "amount", "currency"?}]?}
    expect = models.JSONField()
    # {"passed", "version", "ran_at", "message"} of the last stored run, None before one.
    last_result = models.JSONField(null=True, blank=True)
    created_by = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rule", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "name"], name="rule_scenario_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.name}"


class RulePublishRequest(models.Model):
    """Two-person publishing (RuleProgramConfig.rules_publish_requires_approval): one person
    asks to publish a version, another approves it (never the requester) or rejects it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        SUPERSEDED = "superseded"

    # Indexed with created_at (a rule's requests, newest first): see Meta.indexes.
    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, related_name="publish_requests", db_index=False
    )
    version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.CharField(max_length=255)
    decided_by = models.CharField(max_length=255, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["rule", "created_at"], name="rule_publish_request_by_rule"),
        ]
        permissions = [
            # The second person's: not change_rule, which every backend API key holds.
            ("approve_rulepublishrequest", "Can approve a request to publish a rule"),
        ]
        constraints = [
            # At most one open request per rule: a new one supersedes the old.
            models.UniqueConstraint(
                fields=["rule"],
                condition=Q(status="pending"),
                name="rule_publish_request_one_pending",
            ),
            # The database refuses what the service refuses: approving one's own request.
            models.CheckConstraint(
                condition=~Q(status="approved") | ~Q(decided_by=models.F("requested_by")),
                name="rule_publish_request_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"publish {self.rule_id} v{self.version_id} ({self.status})"
