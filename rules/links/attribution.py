"""Attribution: which participant a click id or a coupon names (SPEC section 11).

A **coupon** is a participant's referral code or a coupon code assigned to them (Coupon), in
any case; it does not expire.

A **click id** is what the redirect put in the landing URL and in the ``rl_click`` cookie. The
cookie is rewritten on every click, so it carries the visitor's *latest* click. The clicks of
one visitor are related by ``visitor_hash`` (the HMAC of address and user agent the redirect
stores), and the program's ``attribution_model`` picks among them:

- ``last_click``: the click presented wins.
- ``first_click``: the earliest click of the same visitor hash in the program that is within the
  window and not later than the click presented wins (it may be another partner's).

The window is ``attribution_window_days`` before the moment of the conversion (the event's
``occurred_at``, or now for ``POST P/referrals``): a presented click older than that is
``expired``. A winning click on the user's own link is ``self``; an id no click of the program
has is ``unknown``. Only resolution lives here; the referral guards (already referred,
cycles) and the write are rules.services.referral_graph's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from config.platform.models import AttributionModel, Program
from rules.links.models import Click, Coupon
from rules.models import Participant

ATTRIBUTED = "attributed"
EXPIRED = "expired"
UNKNOWN = "unknown"
SELF = "self"
ALREADY_REFERRED = "already_referred"
CYCLE = "cycle"


@dataclass(frozen=True)
class Attribution:
    status: str
    reason: str
    referrer: Participant | None = None
    click_id: str | None = None
    coupon: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.referrer is not None:
            out["referrer"] = self.referrer.external_id
        if self.click_id is not None:
            out["click_id"] = self.click_id
        if self.coupon is not None:
            out["coupon"] = self.coupon
        return out


def coupon_owner(*, program: Program, code: str) -> Participant | None:
    """The participant whose referral code or assigned coupon is `code`, case-insensitively."""
    code = code.strip().upper()
    if not code:
        return None
    owner = Participant.objects.filter(program=program, referral_code=code).first()
    if owner is not None:
        return owner
    coupon = Coupon.objects.filter(program=program, code=code).select_related("participant").first()
    return coupon.participant if coupon is not None else None


def _winning_click(*, program: Program, click: Click, since: datetime) -> Click:
    if program.attribution_model != AttributionModel.FIRST_CLICK:
        return click
    first = (
        Click.objects.filter(
            program=program, visitor_hash=click.visitor_hash, at__gte=since, at__lte=click.at
        )
        .select_related("participant")
        .order_by("at", "id")
        .first()
    )
    return first or click


def resolve(
    *,
    program: Program,
    user: str,
    at: datetime,
    click_id: str | None = None,
    coupon: str | None = None,
) -> Attribution:
    """Who a click id or coupon attributes the user `user` to, at time `at`; every status but
    ``attributed`` comes with no referrer and a reason."""
    if coupon:
        owner = coupon_owner(program=program, code=coupon)
        if owner is None:
            return Attribution(UNKNOWN, f"No participant has the coupon {coupon!r}.", coupon=coupon)
        if owner.external_id == user:
            return Attribution(SELF, f"The coupon {coupon!r} is the user's own.", coupon=coupon)
        return Attribution(ATTRIBUTED, "coupon", referrer=owner, coupon=coupon)
    assert click_id is not None
    click = _click(program=program, click_id=click_id)
    if click is None:
        return Attribution(UNKNOWN, f"No click {click_id!r} in this program.", click_id=click_id)
    since = at - timedelta(days=program.attribution_window_days)
    if click.at < since:
        return Attribution(
            EXPIRED,
            f"The click is older than the {program.attribution_window_days}-day window.",
            click_id=click_id,
        )
    winner = _winning_click(program=program, click=click, since=since)
    if winner.participant.external_id == user:
        return Attribution(SELF, "The click was on the user's own link.", click_id=str(winner.id))
    return Attribution(
        ATTRIBUTED, program.attribution_model, referrer=winner.participant, click_id=str(winner.id)
    )


def _click(*, program: Program, click_id: str) -> Click | None:
    try:
        key = uuid.UUID(str(click_id))
    except ValueError:
        return None
    return Click.objects.filter(program=program, pk=key).select_related("participant").first()
