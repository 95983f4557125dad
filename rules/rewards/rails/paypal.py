"""The `paypal` payout rail: PayPal Payouts (`POST /v1/payments/payouts`) to the partner's email.

Through the official `paypal-server-sdk`: its configuration (environment or base URL), its
OAuth 2 client-credentials manager (the token is fetched from `/v1/oauth2/token` and reused
until it expires), its HTTP client and error handling. The SDK ships controllers for Orders,
Payments, Vault, Subscriptions and Transaction Search but none for Payouts, so
`PayoutsController` below adds the two Payouts endpoints the way the SDK's own controllers are
written (a `BaseController` with the SDK's `RequestBuilder`, `Single("Oauth2")` auth and
`ResponseHandler`), against the documented Payouts v1 API.

Idempotency: one PayPal payout per item, whose `sender_batch_id` and `PayPal-Request-Id` are the
item's idempotency key. PayPal answers a repeated `PayPal-Request-Id` with the first answer (the
same payout batch) and refuses a second batch with a `sender_batch_id` it has seen in the last
30 days, so a retry after a crash between PayPal's answer and our commit never pays twice, and
that holds per item whatever items a retry groups together (one batch per item costs a call per
item; PayPal allows far more calls than a payout run makes).

Statuses: a created payout is `sent` (PayPal settles it asynchronously); `poll` reads the batch:
`SUCCESS` is `paid`; `FAILED`, `RETURNED`, `BLOCKED`, `REFUNDED`, `REVERSED` and `DENIED` are
`failed` with PayPal's error name and message; `UNCLAIMED` (the receiver has no PayPal account
yet) stays `sent` until PAYPAL_UNCLAIMED_DAYS after processing (PayPal returns unclaimed money
after 30 days), then it is `failed`; anything else (`PENDING`, `ONHOLD`, `NEW`) stays `sent`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import requests
from apimatic_core.authentication.multiple.single_auth import Single
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from apimatic_core.request_builder import RequestBuilder
from apimatic_core.response_handler import ResponseHandler
from apimatic_core.types.parameter import Parameter
from django.conf import settings
from paypalserversdk.api_helper import APIHelper
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.controllers.base_controller import BaseController
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.http.http_method_enum import HttpMethodEnum
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from rules.rewards.rails.base import RailItem, RailResult, rail_register
from rules.rewards.rails.providers import (
    PAYPAL_ENVIRONMENTS,
    RailUnavailable,
    minor_to_decimal_string,
)

logger = logging.getLogger(__name__)

NAME = "paypal"

PAID = {"SUCCESS"}
FAILED = {"FAILED", "RETURNED", "BLOCKED", "REFUNDED", "REVERSED", "DENIED"}
UNCLAIMED = "UNCLAIMED"


@dataclass(frozen=True)
class PayPalCredentials:
    client_id: str
    client_secret: str
    environment: str  # "sandbox" | "production"
    base_url: str  # empty: the environment's PayPal host


def credentials_from_settings(program_id: int) -> PayPalCredentials:
    """The platform's PayPal REST app pays for every program (settings PAYPAL_*)."""
    return PayPalCredentials(
        client_id=settings.PAYPAL_CLIENT_ID,
        client_secret=settings.PAYPAL_CLIENT_SECRET,
        environment=settings.PAYPAL_ENVIRONMENT,
        base_url=settings.PAYPAL_BASE_URL,
    )


class _Configuration(Configuration):
    """The SDK's configuration with its server overridable: the SDK knows only PayPal's two
    hosts; PAYPAL_BASE_URL (a local stub in the tests, a proxy in some deployments) wins."""

    def __init__(self, *, base_url: str = "", **kwargs: Any) -> None:
        self._base_url = base_url.rstrip("/")
        super().__init__(**kwargs)

    def get_base_uri(self, server: Server = Server.DEFAULT) -> str:
        return self._base_url or super().get_base_uri(server)


class PayoutsController(BaseController):
    """PayPal Payouts v1 (developer.paypal.com/docs/api/payments.payouts-batch/v1/), written
    as the SDK writes its controllers."""

    def _response(self) -> ResponseHandler:
        return (
            ResponseHandler()
            .deserializer(APIHelper.json_deserialize)
            .is_api_response(True)
            .local_error("default", "PayPal Payouts error response.", ApiException)
        )

    def create_batch_payout(self, *, body: dict[str, Any], paypal_request_id: str) -> Any:
        """POST /v1/payments/payouts."""
        return (
            super()
            .new_api_call_builder.request(
                RequestBuilder()
                .server(Server.DEFAULT)
                .path("/v1/payments/payouts")
                .http_method(HttpMethodEnum.POST)
                .header_param(Parameter().key("Content-Type").value("application/json"))
                .header_param(Parameter().key("PayPal-Request-Id").value(paypal_request_id))
                .header_param(Parameter().key("accept").value("application/json"))
                .body_param(Parameter().value(body))
                .body_serializer(APIHelper.json_serialize)
                .auth(Single("Oauth2"))
            )
            .response(self._response())
            .execute()
        )

    def get_payout_batch(self, *, payout_batch_id: str) -> Any:
        """GET /v1/payments/payouts/{payout_batch_id} (the header and every item's status)."""
        return (
            super()
            .new_api_call_builder.request(
                RequestBuilder()
                .server(Server.DEFAULT)
                .path("/v1/payments/payouts/{payout_batch_id}")
                .http_method(HttpMethodEnum.GET)
                .template_param(
                    Parameter().key("payout_batch_id").value(payout_batch_id).should_encode(True)
                )
                .header_param(Parameter().key("accept").value("application/json"))
                .auth(Single("Oauth2"))
            )
            .response(self._response())
            .execute()
        )


def _error_body(exc: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(exc.response.text or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_reason(body: dict[str, Any], fallback: str) -> str:
    name = body.get("name") or body.get("error") or ""
    message = body.get("message") or body.get("error_description") or fallback
    issues = "; ".join(
        f"{d.get('field', '')}: {d.get('issue', '')}".strip(": ")
        for d in body.get("details") or []
        if isinstance(d, dict)
    )
    reason = f"{name}: {message}" if name else str(message)
    return f"{reason} ({issues})" if issues else reason


def _sender_batch_id_reused(body: dict[str, Any]) -> bool:
    return any(
        "sender_batch_id" in str(d.get("field", "")).lower()
        for d in body.get("details") or []
        if isinstance(d, dict)
    )


def item_result(item: dict[str, Any], *, unclaimed_days: int, now: datetime) -> RailResult | None:
    """What one item of a payout batch (GET payouts/{id}) says about our payout item."""
    try:
        item_id = int(item["payout_item"]["sender_item_id"])
    except (KeyError, TypeError, ValueError):
        return None
    status = str(item.get("transaction_status") or "").upper()
    ref = str(item.get("payout_batch_id") or "")
    errors = item.get("errors") or {}
    detail = ": ".join(x for x in (errors.get("name"), errors.get("message")) if x)
    if status in PAID:
        return RailResult(item_id=item_id, status="paid", provider_ref=ref)
    if status in FAILED:
        reason = f"{status}: {detail}" if detail else status
        return RailResult(item_id=item_id, status="failed", provider_ref=ref, reason=reason)
    if status == UNCLAIMED:
        processed = _parse_time(item.get("time_processed"))
        if processed is not None and now - processed > timedelta(days=unclaimed_days):
            return RailResult(
                item_id=item_id,
                status="failed",
                provider_ref=ref,
                reason=f"UNCLAIMED for more than {unclaimed_days} days"
                + (f": {detail}" if detail else ""),
            )
        return RailResult(
            item_id=item_id,
            status="sent",
            provider_ref=ref,
            reason="UNCLAIMED: the receiver has not claimed the payment yet",
        )
    return RailResult(item_id=item_id, status="sent", provider_ref=ref, reason=status)


def result_from_webhook(
    event: dict[str, Any], *, unclaimed_days: int, now: datetime
) -> RailResult | None:
    """A PayPal webhook about a payout item (`PAYMENT.PAYOUTS-ITEM.SUCCEEDED`, `.FAILED`,
    `.RETURNED`, `.BLOCKED`, `.UNCLAIMED`, `.REFUNDED`, `.REVERSED`, ...) as the item's result;
    None for other events. The caller has verified the webhook (PayPal's verify-webhook-signature)
    and hands the result to the payouts."""
    if not str(event.get("event_type", "")).startswith("PAYMENT.PAYOUTS-ITEM."):
        return None
    resource = event.get("resource")
    if not isinstance(resource, dict):
        return None
    return item_result(resource, unclaimed_days=unclaimed_days, now=now)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class PayPalRail:
    name = NAME

    def __init__(
        self,
        *,
        credentials: Callable[[int], PayPalCredentials] = credentials_from_settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.credentials = credentials
        self.clock = clock
        # One SDK client per set of credentials, so its OAuth token is reused until it expires.
        self._controllers: dict[PayPalCredentials, PayoutsController] = {}
        self._lock = threading.Lock()

    def controller(self, program_id: int) -> PayoutsController:
        creds = self.credentials(program_id)
        if not (creds.client_id and creds.client_secret):
            raise RailUnavailable(NAME, "PAYPAL_CLIENT_ID/SECRET are not set; nothing was sent")
        if str(creds.environment).lower() not in PAYPAL_ENVIRONMENTS:
            # The SDK would fall back to the sandbox: say so instead of "paying" nobody.
            raise RailUnavailable(
                NAME, f"PAYPAL_ENVIRONMENT is {creds.environment!r}: sandbox or production"
            )
        environment = Environment[str(creds.environment).upper()]
        with self._lock:
            controller = self._controllers.get(creds)
            if controller is None:
                config = _Configuration(
                    base_url=creds.base_url,
                    environment=environment,
                    client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                        o_auth_client_id=creds.client_id,
                        o_auth_client_secret=creds.client_secret,
                    ),
                    timeout=30,
                )
                client = PaypalServersdkClient(config=config)
                controller = PayoutsController(client.global_configuration)
                self._controllers[creds] = controller
            return controller

    def _forget(self, controller: PayoutsController) -> None:
        """Drop a client whose token PayPal refused (revoked, or the app's secret rotated): the
        next call makes a new one and asks for a new token, instead of failing until expiry."""
        with self._lock:
            self._controllers = {k: v for k, v in self._controllers.items() if v is not controller}

    def _call(self, controller: PayoutsController, fn: Callable[[], Any]) -> Any:
        """The SDK call; outages and auth problems become RailUnavailable."""
        try:
            return fn()
        except AuthValidationException as exc:
            self._forget(controller)
            raise RailUnavailable(NAME, f"PayPal refused our credentials: {exc}") from exc
        except requests.RequestException as exc:
            raise RailUnavailable(NAME, f"PayPal unreachable: {type(exc).__name__}") from exc
        except ApiException as exc:
            if exc.response_code == 401:
                self._forget(controller)
            raise

    def send(
        self, *, program_id: int, batch_id: int, items: Sequence[RailItem]
    ) -> list[RailResult]:
        controller = self.controller(program_id)
        return [self._send_one(controller, batch_id, item) for item in items]

    def _send_one(self, controller: PayoutsController, batch_id: int, item: RailItem) -> RailResult:
        email = str((item.details or {}).get("email") or "")
        if item.method != NAME or not email:
            return RailResult(
                item_id=item.item_id,
                status="failed",
                reason="no PayPal email: the payout method is not paypal",
            )
        body = {
            "sender_batch_header": {
                "sender_batch_id": item.idempotency_key,
                "email_subject": "You have a payout",
                "email_message": item.note or "Your referral rewards have been paid.",
            },
            "items": [
                {
                    "recipient_type": "EMAIL",
                    "amount": {
                        "value": minor_to_decimal_string(item.amount, item.currency),
                        "currency": item.currency,
                    },
                    "note": item.note or f"Payout batch {batch_id}",
                    "sender_item_id": str(item.item_id),
                    "receiver": email,
                }
            ],
        }
        try:
            response = self._call(
                controller,
                partial(
                    controller.create_batch_payout,
                    body=body,
                    paypal_request_id=item.idempotency_key,
                ),
            )
        except ApiException as exc:
            error = _error_body(exc)
            status = exc.response_code
            if status >= 500 or status in (401, 403, 408, 409, 429):
                raise RailUnavailable(NAME, _error_reason(error, f"HTTP {status}")) from exc
            if _sender_batch_id_reused(error):
                # Sent before under this key, beyond PayPal's memory of the request id: it may
                # have been paid, so this is no decision. The operator finds it in PayPal.
                raise RailUnavailable(
                    NAME,
                    f"sender_batch_id {item.idempotency_key} was already used: look the payout "
                    "up in PayPal before deciding this item",
                ) from exc
            return RailResult(
                item_id=item.item_id,
                status="failed",
                reason=_error_reason(error, f"HTTP {status}"),
            )
        header = (response.body or {}).get("batch_header") or {}
        ref = str(header.get("payout_batch_id") or "")
        if str(header.get("batch_status", "")).upper() in ("DENIED", "CANCELED"):
            return RailResult(
                item_id=item.item_id,
                status="failed",
                provider_ref=ref,
                reason=f"PayPal {header['batch_status']} the payout",
            )
        return RailResult(item_id=item.item_id, status="sent", provider_ref=ref)

    def poll(self, *, program_id: int, provider_refs: Sequence[str]) -> list[RailResult]:
        controller = self.controller(program_id)
        now = self.clock()
        results: list[RailResult] = []
        for ref in dict.fromkeys(provider_refs):  # one GET per batch, in the given order
            try:
                response = self._call(
                    controller, partial(controller.get_payout_batch, payout_batch_id=ref)
                )
            except ApiException as exc:
                if exc.response_code == 404:
                    logger.warning("paypal payout batch not found", extra={"provider_ref": ref})
                    continue
                raise RailUnavailable(
                    NAME, _error_reason(_error_body(exc), f"HTTP {exc.response_code}")
                ) from exc
            for item in (response.body or {}).get("items") or []:
                result = item_result(item, unclaimed_days=settings.PAYPAL_UNCLAIMED_DAYS, now=now)
                if result is not None:
                    results.append(result)
        return results


rail_register(PayPalRail())
