"""Referral links and their clicks (SPEC section 11).

Every participant has one link, ``/r/{referral_code}``, and may name more (**ReferralLink**,
``/r/{referral_code}/{slug}``) for campaigns, each with an optional destination on the
program's allowed domains.

A **Click** is one row written by the redirect, its only write (clicks are the highest-volume
path). It keeps no raw IP address: ``visitor_hash`` is an HMAC of the address and the user
agent under a secret (settings.CLICK_HASH_SECRET), enough to count unique visitors and nothing
else. Raw clicks are kept for CLICK_RETENTION_DAYS (attribution reads them by click id) and
then deleted by a periodic job, after their day is rolled up.

**ClickDaily** is the roll-up the dashboard, analytics and portal read: clicks (bots apart), unique visitors
and bot clicks per program, participant, link and UTC day. A periodic job recomputes today's and
yesterday's rows from the raw clicks (idempotent: a rerun writes the same numbers), so the
redirect never contends on a counter row. **ProgramClickDaily** sums those rows per program and
day, in the same recompute, for program-wide analytics. docs/OPERATIONS.md ("Clicks") has the reasoning.
"""

from __future__ import annotations

import os
import time
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.platform.models import Program
from rules.models import Participant

SLUG_PATTERN = r"^[a-z0-9-]{1,40}$"
# \A and \Z mean the same in PostgreSQL's and Python's (SQLite's REGEXP) regular expressions.
SLUG_CHECK = r"\A[a-z0-9-]{1,40}\Z"
# Coupon codes: letters, digits, '-' and '_', stored upper-case (case-insensitive codes).
COUPON_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
COUPON_CHECK = r"\A[A-Z0-9_-]{1,40}\Z"


def click_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): time-ordered, so new clicks append to the primary key's index
    instead of landing on random pages of it. 48 bits of milliseconds, 74 random bits."""
    millis = time.time_ns() // 1_000_000
    value = (millis & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10)) & (2**80 - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return uuid.UUID(int=value)


class ReferralLink(models.Model):
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="links", db_index=False
    )
    slug = models.CharField(max_length=40)
    destination = models.CharField(
        max_length=2000, blank=True, default="", help_text="Empty: the program's landing URL"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "rules"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "slug"], name="referral_link_slug_unique"
            ),
            models.CheckConstraint(
                condition=Q(slug__regex=SLUG_CHECK), name="referral_link_slug_format"
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class Click(models.Model):
    id = models.UUIDField(primary_key=True, default=click_id, editable=False)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="clicks", db_index=False
    )
    link = models.ForeignKey(
        ReferralLink, on_delete=models.PROTECT, null=True, blank=True, related_name="clicks"
    )
    # HMAC-SHA256 of the client address and user agent (never the address itself).
    visitor_hash = models.CharField(max_length=64)
    referrer_host = models.CharField(max_length=255, blank=True, default="")
    # utm_source, utm_medium, utm_campaign, utm_term, utm_content of the landing URL.
    utm = models.JSONField(default=dict, blank=True)
    is_bot = models.BooleanField(default=False)

    class Meta:
        app_label = "rules"
        ordering = ["-at"]
        indexes = [models.Index(fields=["participant", "at"], name="click_participant_at")]

    def __str__(self) -> str:
        return str(self.id)


class ClickDaily(models.Model):
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    link = models.ForeignKey(
        ReferralLink, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    day = models.DateField()
    clicks = models.PositiveIntegerField(default=0, help_text="Clicks that are not bots")
    unique_clicks = models.PositiveIntegerField(
        default=0, help_text="Distinct visitors among the clicks that are not bots"
    )
    bot_clicks = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "rules"
        verbose_name = "daily clicks"
        verbose_name_plural = "daily clicks"
        ordering = ["-day"]
        # Analytics (rules/links/analytics.py) sums clicks per day of a program or a partner:
        # the sums ride in the indexes (key columns: SQLite has no INCLUDE), so a 90-day range
        # is an index-only scan.
        indexes = [
            models.Index(
                fields=["program", "day", "clicks", "unique_clicks"],
                name="click_daily_program_sums",
            ),
            models.Index(
                fields=["participant", "day", "clicks", "unique_clicks"],
                name="click_daily_partner_sums",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "link", "day"],
                condition=Q(link__isnull=False),
                name="click_daily_link_day_unique",
            ),
            models.UniqueConstraint(
                fields=["participant", "day"],
                condition=Q(link__isnull=True),
                name="click_daily_code_day_unique",
            ),
        ]


class ProgramClickDaily(models.Model):
    """The program-wide roll-up of a day: the sums of the day's ClickDaily rows, one row per
    program and UTC day, written by the same recompute in the same transaction
    (rules/links/services/rollup.py). Program-wide analytics read 90 rows for 90 days here
    instead of a row per partner and day. `unique_clicks` is the sum of the partners' distinct
    visitors (a visitor of two partners counts twice), as summing ClickDaily gives."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    clicks = models.PositiveIntegerField(default=0, help_text="Clicks that are not bots")
    unique_clicks = models.PositiveIntegerField(default=0)
    bot_clicks = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "rules"
        verbose_name = "daily program clicks"
        verbose_name_plural = "daily program clicks"
        ordering = ["-day"]
        constraints = [
            # Also the index a date range of one program reads.
            models.UniqueConstraint(fields=["program", "day"], name="program_click_daily_unique")
        ]


class Coupon(models.Model):
    """A code a participant's audience types at checkout instead of following a link
    (SPEC section 11, attribution). Stored upper-case: unique per program whatever the case."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="coupons")
    code = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "rules"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="coupon_code_unique"),
            models.CheckConstraint(
                condition=Q(code__regex=COUPON_CHECK), name="coupon_code_format"
            ),
        ]

    def __str__(self) -> str:
        return self.code
