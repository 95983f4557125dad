"""Errors of the referrals and rules app (SPEC §1 codes), rendered by the ledger's one handler."""

from __future__ import annotations

from config.platform.exceptions import Conflict, DomainError


class SelfReferral(DomainError):
    code, status, title = "self_referral", 400, "A participant cannot refer themselves"


class AlreadyReferred(Conflict):
    code, title = "already_referred", "The referred participant already has a referrer"


class ReferralCycle(DomainError):
    code, status, title = "referral_cycle", 400, "The referral would create a cycle"


class RuleInvalid(DomainError):
    code, status, title = "rule_invalid", 400, "Invalid rule definition"


class EventNotReady(Exception):
    """A transient condition (e.g. a refund whose original event is not processed yet): the
    event is retried later with backoff."""
