"""Who paid, and who referred them (SPEC section 13, "the user is found from …").

Sources are read in the SPEC's order: `client_reference_id`, metadata `click_id` /
`referral_code` / `participant`, the promotion code, the customer's email. Each source names
either the **user** (the paying participant) or the **referrer** (a click id or a coupon that
SPEC section 11's attribution resolves); the first source of each kind wins:

- `client_reference_id`: a click id (a UUID: the `rl_click` cookie's value) names the referrer;
  anything else is the user's participant id.
- metadata `click_id` → referrer by click; `referral_code` → referrer by coupon; `participant`
  → the user.
- the promotion code → referrer by coupon (a participant's referral code or assigned coupon).
- the customer's email → the user.

A user found nowhere is the participant this provider customer was linked to before (a renewal
has no checkout metadata), else the provider's customer id itself (`cus_…`, `ctm_…`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from config.platform.identifiers import PARTICIPANT_ID_RE
from config.platform.models import Program
from rules.billing.models import CustomerLink
from rules.billing.providers import Lookup


@dataclass
class Found:
    user: str = ""
    click_id: str = ""
    coupon: str = ""
    sources: dict[str, str] = field(default_factory=dict)  # "user" / "referrer" → source

    def describe(self) -> str:
        return ", ".join(f"{k} from {v}" for k, v in self.sources.items()) or "nothing"


def _is_click(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _participant_id(value: Any) -> str:
    value = value.strip() if isinstance(value, str) else ""
    return value if value and PARTICIPANT_ID_RE.fullmatch(value) else ""


def participant_lookup(
    *, program: Program, provider: str, lookup: Lookup, mapping: dict[str, Any]
) -> Found:
    keys = {
        "click_id": "click_id",
        "referral_code": "referral_code",
        "participant": "participant",
        **(mapping.get("metadata_keys") or {}),
    }
    meta = lookup.metadata
    client_ref = lookup.client_reference_id.strip()
    if keys.get("client_reference_id"):
        client_ref = client_ref or str(meta.get(keys["client_reference_id"]) or "").strip()
    found = Found()

    def user(value: Any, source: str) -> None:
        candidate = _participant_id(value)
        if candidate and not found.user:
            found.user = candidate
            found.sources["user"] = source

    def referrer(*, click: str = "", coupon: str = "", source: str) -> None:
        if (click or coupon) and not (found.click_id or found.coupon):
            found.click_id, found.coupon = click.strip(), coupon.strip()
            found.sources["referrer"] = source

    if client_ref:
        if _is_click(client_ref):
            referrer(click=client_ref, source="client_reference_id (click id)")
        else:
            user(client_ref, "client_reference_id")
    click = str(meta.get(keys["click_id"]) or "")
    if click:
        referrer(click=click, source="metadata.click_id")
    code = str(meta.get(keys["referral_code"]) or "")
    if code:
        referrer(coupon=code, source="metadata.referral_code")
    user(meta.get(keys["participant"]), "metadata.participant")
    for promo in lookup.promotion_codes:
        referrer(coupon=promo, source="promotion code")
    if lookup.customer and not found.user:
        linked = (
            CustomerLink.objects.filter(
                program=program, provider=provider, customer=lookup.customer
            )
            .values_list("user", flat=True)
            .first()
        )
        user(linked, "the customer's earlier payments")
    user(lookup.email.lower(), "customer email")
    user(lookup.customer, "customer id")
    return found
