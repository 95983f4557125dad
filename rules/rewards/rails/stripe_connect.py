"""The `stripe_connect` payout rail: a Stripe transfer to the partner's connected account.

One `POST /v1/transfers` per item through the official `stripe` SDK, with the item's
idempotency key as Stripe's `Idempotency-Key`: Stripe keeps keys for at least 24 hours and
answers a repeated key with the transfer it already made, so a retry after a crash between
Stripe's answer and our commit gets the same transfer back instead of paying twice. A retry
later than that finds the transfer anyway: each send first lists the batch's transfers
(`transfer_group=payout-batch-{batch}`) and answers from the list for items whose transfer is
older than the key's lifetime. The
transfer's metadata carries the item id, so `poll` (and a reader of the Stripe dashboard) can
tell which item a transfer pays.

A transfer to a connected account settles synchronously (the funds are in the account's Stripe
balance when the call returns), so a created transfer is `paid`. A transfer later reversed in
full (`reversed: true`, by the platform or on Stripe's dashboard) is `failed` with the reason
"returned"; a partial reversal leaves the item `paid` and says so in the reason, since part of
the money did arrive (docs/PAYOUT_RAILS.md: the operator books the difference).

Stripe's decisions (an unknown or restricted destination, insufficient platform balance, an
invalid amount) fail the item with Stripe's error code and message; outages raise
`RailUnavailable` (rails/providers.py) and decide nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings
from stripe.params import TransferCreateParams

from rules.rewards.rails.base import RailItem, RailResult, rail_register
from rules.rewards.rails.providers import RailUnavailable

logger = logging.getLogger(__name__)

NAME = "stripe_connect"
# Stripe keeps an idempotency key for at least 24 hours. Within this margin under it, a retry
# asks again with the item's key (Stripe replays the transfer); beyond it, the transfer found
# by listing the batch's transfer_group answers, since the key may be forgotten.
KEY_WINDOW_SECONDS = 23 * 3600


@dataclass(frozen=True)
class StripeCredentials:
    secret_key: str
    api_base: str


def credentials_from_settings(program_id: int) -> StripeCredentials:
    """The platform's Stripe account pays for every program (settings STRIPE_SECRET_KEY)."""
    return StripeCredentials(
        secret_key=settings.STRIPE_SECRET_KEY, api_base=settings.STRIPE_API_BASE
    )


def _error_reason(exc: stripe.StripeError) -> str:
    code = getattr(exc, "code", None) or ""
    message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    return f"{code}: {message}" if code else message


def _decided(exc: stripe.StripeError) -> bool:
    """Whether Stripe refused this transfer for good (a 4xx about the request), as opposed to
    an outage or our own configuration (keys, permissions, rate limit, idempotency misuse)."""
    if isinstance(
        exc,
        stripe.APIConnectionError
        | stripe.AuthenticationError
        | stripe.PermissionError
        | stripe.RateLimitError
        | stripe.IdempotencyError,
    ):
        return False
    status = exc.http_status or 0
    return 400 <= status < 500 and status not in (401, 403, 409, 429)


def result_of(item_id: int, transfer: dict[str, Any]) -> RailResult:
    """What a transfer object (created, replayed or fetched) says about its item."""
    amount = int(transfer["amount"])
    reversed_amount = int(transfer.get("amount_reversed") or 0)
    if transfer.get("reversed") or (amount and reversed_amount >= amount):
        return RailResult(
            item_id=item_id,
            status="failed",
            provider_ref=transfer["id"],
            reason="returned: the Stripe transfer was reversed",
        )
    reason = ""
    if reversed_amount:
        reason = f"partially reversed: {reversed_amount} of {amount} (minor units) returned"
    return RailResult(item_id=item_id, status="paid", provider_ref=transfer["id"], reason=reason)


TRANSFER_EVENTS = frozenset({"transfer.created", "transfer.updated", "transfer.reversed"})


def result_from_event(event: dict[str, Any]) -> RailResult | None:
    """A Stripe event about one of our transfers (`transfer.reversed` above all), as the item's
    result; None for other events or transfers no payout item made. The caller has verified
    the event's signature (the Stripe webhook receiver) and hands the result to the payouts."""
    if event.get("type") not in TRANSFER_EVENTS:
        return None
    transfer = (event.get("data") or {}).get("object") or {}
    item_id = (transfer.get("metadata") or {}).get("payout_item_id")
    if transfer.get("object") != "transfer" or not str(item_id or "").isdigit():
        return None
    return result_of(int(str(item_id)), transfer)


def _found(item: RailItem, transfer: dict[str, Any]) -> RailResult:
    """The item's earlier transfer; one for another amount is no answer about this item."""
    if (transfer["amount"], str(transfer["currency"]).lower()) != (
        item.amount,
        item.currency.lower(),
    ):
        raise RailUnavailable(
            NAME,
            f"transfer {transfer['id']} for payout item {item.item_id} is "
            f"{transfer['amount']} {transfer['currency']}, not {item.amount} {item.currency}",
        )
    return result_of(item.item_id, transfer)


class StripeConnectRail:
    name = NAME

    def __init__(
        self,
        *,
        credentials: Callable[[int], StripeCredentials] = credentials_from_settings,
        max_network_retries: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.max_network_retries = max_network_retries
        self.clock = clock

    def client(self, program_id: int) -> stripe.StripeClient:
        creds = self.credentials(program_id)
        if not creds.secret_key:
            raise RailUnavailable(NAME, "STRIPE_SECRET_KEY is not set; nothing was sent")
        return stripe.StripeClient(
            creds.secret_key,
            base_addresses={"api": creds.api_base},
            max_network_retries=self.max_network_retries,
        )

    def send(
        self, *, program_id: int, batch_id: int, items: Sequence[RailItem]
    ) -> list[RailResult]:
        client = self.client(program_id)
        made = self._made_before(client, batch_id)
        now = self.clock()
        return [
            _found(item, made[item.item_id])
            if item.item_id in made and now - made[item.item_id]["created"] > KEY_WINDOW_SECONDS
            else self._send_one(client, program_id, batch_id, item)
            for item in items
        ]

    def _made_before(self, client: stripe.StripeClient, batch_id: int) -> dict[int, dict[str, Any]]:
        """The batch's transfers Stripe already has, by payout item (one list call per send).
        Within KEY_WINDOW_SECONDS of a transfer the item's idempotency key answers a retry; a
        retry later than that (after an outage over a weekend) must find the transfer here
        instead of making a second one."""
        made: dict[int, dict[str, Any]] = {}
        try:
            page = client.v1.transfers.list(
                {"transfer_group": f"payout-batch-{batch_id}", "limit": 100}
            )
            for transfer in page.auto_paging_iter():
                data = transfer.to_dict()
                metadata = data.get("metadata") or {}
                item_id = str(metadata.get("payout_item_id") or "")
                if item_id.isdigit() and metadata.get("payout_batch_id") == str(batch_id):
                    made.setdefault(int(item_id), data)
        except stripe.StripeError as exc:
            raise RailUnavailable(NAME, _error_reason(exc)) from exc
        return made

    def _send_one(
        self, client: stripe.StripeClient, program_id: int, batch_id: int, item: RailItem
    ) -> RailResult:
        account = str((item.details or {}).get("account") or "")
        if item.method != NAME or not account:
            return RailResult(
                item_id=item.item_id,
                status="failed",
                reason="no Stripe connected account: the payout method is not stripe_connect",
            )
        params: TransferCreateParams = {
            "amount": item.amount,
            "currency": item.currency.lower(),
            "destination": account,
            "transfer_group": f"payout-batch-{batch_id}",
            "metadata": {
                "payout_item_id": str(item.item_id),
                "payout_batch_id": str(batch_id),
                "program_id": str(program_id),
                "participant": item.participant_external_id,
            },
        }
        if item.note:
            params["description"] = item.note[:350]
        try:
            transfer = client.v1.transfers.create(
                params, options={"idempotency_key": item.idempotency_key}
            ).to_dict()
        except stripe.StripeError as exc:
            if not _decided(exc):
                raise RailUnavailable(NAME, _error_reason(exc)) from exc
            logger.info(
                "stripe transfer refused",
                extra={"payout_item": item.item_id, "stripe_code": getattr(exc, "code", "")},
            )
            return RailResult(item_id=item.item_id, status="failed", reason=_error_reason(exc))
        return result_of(item.item_id, transfer)

    def poll(self, *, program_id: int, provider_refs: Sequence[str]) -> list[RailResult]:
        """The current state of each transfer; a transfer Stripe does not know is skipped (and
        logged), since no item can be named for it."""
        client = self.client(program_id)
        results = []
        for ref in provider_refs:
            try:
                transfer = client.v1.transfers.retrieve(ref).to_dict()
            except stripe.InvalidRequestError as exc:
                if exc.http_status == 404:
                    logger.warning("stripe transfer not found", extra={"provider_ref": ref})
                    continue
                raise RailUnavailable(NAME, _error_reason(exc)) from exc
            except stripe.StripeError as exc:
                raise RailUnavailable(NAME, _error_reason(exc)) from exc
            item_id = (transfer.get("metadata") or {}).get("payout_item_id")
            if not item_id:
                logger.warning("stripe transfer without payout_item_id", extra={"ref": ref})
                continue
            results.append(result_of(int(item_id), transfer))
        return results


rail_register(StripeConnectRail())
