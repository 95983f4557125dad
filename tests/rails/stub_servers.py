"""Local stand-ins for the Stripe and PayPal APIs the payout rails call (SPEC section 13).

Each stub is a small threaded HTTP server on 127.0.0.1 that answers the few endpoints the rails
use in the shapes the providers document (tests/fixtures/rails/README.md names the pages), so
the official SDKs run for real, over HTTP, without the internet. Tests steer the stubs through
plain attributes and methods (which accounts exist, the available balance, how a PayPal item
ends, a reversal done on the provider's side) and read what arrived in `requests`.

Idempotency is modelled as the providers describe it:
- Stripe: the `Idempotency-Key` header; the same key with the same parameters replays the first
  response (with `Idempotent-Replayed: true`), with other parameters it is a 400
  `idempotency_error`. Errors are replayed too, as Stripe does for 4xx answers it computed.
- PayPal: the `PayPal-Request-Id` header replays the first response; a second batch with a
  `sender_batch_id` already used is refused (400 `USER_BUSINESS_ERROR`).

Used by tests/rails and by the payout execution tests (the kill-between-call-and-commit test):
start one with `with StripeStub() as stripe_stub:` or through the fixtures in conftest.py.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

JSON = dict[str, Any]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: concurrent-send tests open many at once


class _StubServer:
    """A ThreadingHTTPServer on 127.0.0.1, a free port, that hands requests to `handle`."""

    name: ClassVar[str] = "stub"

    def __init__(self, *, port: int = 0) -> None:
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = Recorded(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    client=self.client_address[0],
                )
                with stub.lock:
                    stub.requests.append(record)
                    status, payload, extra = stub.handle(record)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> _StubServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle(self, request: Recorded) -> tuple[int, JSON, dict[str, str]]:
        raise NotImplementedError

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.method == method and urlsplit(r.path).path.startswith(path_prefix)
            ]


def _stripe_error(status: int, type_: str, message: str, **more: str) -> tuple[int, JSON]:
    return status, {"error": {"type": type_, "message": message, **more}}


def _form(body: bytes) -> dict[str, str]:
    """Stripe's form encoding flattened: `metadata[payout_item_id]` stays one key."""
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


class StripeStub(_StubServer):
    """`POST|GET /v1/transfers`, `GET /v1/transfers/{id}`, `POST|GET /v1/transfers/{id}/reversals`.

    `accounts`: connected account ids that exist (others: `resource_missing` on `destination`);
    `balance`: the platform's available balance per currency in minor units (a transfer above
    it: `balance_insufficient`); `fail_next`: HTTP statuses to answer the next POSTs with
    (e.g. 500), before they are processed; `api_key`: the secret key it accepts.
    """

    name = "stripe"

    def __init__(self, *, api_key: str = "sk_test_stub", port: int = 0) -> None:
        super().__init__(port=port)
        self.api_key = api_key
        self.accounts: set[str] = {"acct_1PartnerA", "acct_1PartnerB"}
        self.balance: dict[str, int] = {"usd": 10**9, "eur": 10**9, "jpy": 10**9}
        self.transfers: dict[str, JSON] = {}
        self.idempotent: dict[str, tuple[dict[str, str], int, JSON]] = {}
        self.fail_next: list[int] = []
        # False: GET /v1/transfers does not show the transfers yet (Stripe's lists may lag).
        self.list_visible = True
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}{secrets.token_hex(6)}"

    def handle(self, request: Recorded) -> tuple[int, JSON, dict[str, str]]:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            status, body = _stripe_error(
                401, "invalid_request_error", "Invalid API Key provided: sk_***"
            )
            return status, body, {}
        path = urlsplit(request.path).path
        parts = path.strip("/").split("/")
        if request.method == "POST" and self.fail_next:
            status = self.fail_next.pop(0)
            return (
                *_stripe_error(status, "api_error", "An unknown error occurred (stub)."),
                {},
            )
        if request.method == "POST":
            key = request.headers.get("idempotency-key", "")
            params = _form(request.body)
            if key and key in self.idempotent:
                first_params, status, body = self.idempotent[key]
                if first_params != params:
                    status, body = _stripe_error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                    return status, body, {}
                return status, body, {"Idempotent-Replayed": "true", "Idempotency-Key": key}
            if parts == ["v1", "transfers"]:
                status, body = self._transfer_create(params)
            elif len(parts) == 4 and parts[:2] == ["v1", "transfers"] and parts[3] == "reversals":
                status, body = self._reversal_create(parts[2], params)
            else:
                status, body = _stripe_error(
                    404, "invalid_request_error", f"Unrecognized request URL (POST: {path})."
                )
            if key and status != 500:
                self.idempotent[key] = (params, status, body)
            return status, body, ({"Idempotency-Key": key} if key else {})
        if request.method == "GET" and parts == ["v1", "transfers"]:
            return 200, self._transfer_list(dict(parse_qsl(urlsplit(request.path).query))), {}
        if request.method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "transfers"]:
            transfer = self.transfers.get(parts[2])
            if transfer is None:
                return (
                    *_stripe_error(
                        404,
                        "invalid_request_error",
                        f"No such transfer: '{parts[2]}'",
                        code="resource_missing",
                        param="id",
                    ),
                    {},
                )
            return 200, transfer, {}
        if request.method == "GET" and len(parts) == 4 and parts[3] == "reversals":
            transfer = self.transfers.get(parts[2])
            if transfer is None:
                return *_stripe_error(404, "invalid_request_error", "No such transfer"), {}
            return 200, transfer["reversals"], {}
        return (
            *_stripe_error(
                404,
                "invalid_request_error",
                f"Unrecognized request URL ({request.method}: {path}).",
            ),
            {},
        )

    def _transfer_list(self, query: dict[str, str]) -> JSON:
        """Newest first; `transfer_group` and `destination` filter, `limit` and `starting_after`
        page, as GET /v1/transfers documents."""
        rows = [
            t
            for t in reversed(list(self.transfers.values()) if self.list_visible else [])
            if all(query.get(key) in (None, t[key]) for key in ("transfer_group", "destination"))
        ]
        if query.get("starting_after"):
            ids = [t["id"] for t in rows]
            after = query["starting_after"]
            rows = rows[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit") or 10)
        return {
            "object": "list",
            "data": rows[:limit],
            "has_more": len(rows) > limit,
            "url": "/v1/transfers",
        }

    def _transfer_create(self, params: dict[str, str]) -> tuple[int, JSON]:
        try:
            amount = int(params["amount"])
            currency = params["currency"].lower()
            destination = params["destination"]
        except (KeyError, ValueError) as exc:
            return _stripe_error(
                400, "invalid_request_error", f"Missing required param: {exc}.", param=str(exc)
            )
        if destination not in self.accounts:
            return _stripe_error(
                400,
                "invalid_request_error",
                f"No such destination: '{destination}'",
                code="resource_missing",
                param="destination",
                doc_url="https://stripe.com/docs/error-codes/resource-missing",
            )
        if self.balance.get(currency, 0) < amount:
            return _stripe_error(
                400,
                "invalid_request_error",
                "You have insufficient available funds in your Stripe account. Try adding "
                "funds directly to your available balance by creating Charges using the "
                "4000000000000077 test card.",
                code="balance_insufficient",
                doc_url="https://stripe.com/docs/error-codes/balance-insufficient",
            )
        self.balance[currency] -= amount
        transfer_id = self._id("tr")
        transfer: JSON = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": self._id("txn"),
            "created": int(time.time()),
            "currency": currency,
            "description": params.get("description"),
            "destination": destination,
            "destination_payment": self._id("py"),
            "livemode": False,
            "metadata": {
                k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")
            },
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "reversed": False,
            "source_transaction": None,
            "source_type": "card",
            "transfer_group": params.get("transfer_group"),
        }
        self.transfers[transfer_id] = transfer
        return 200, transfer

    def _reversal_create(self, transfer_id: str, params: dict[str, str]) -> tuple[int, JSON]:
        transfer = self.transfers.get(transfer_id)
        if transfer is None:
            return _stripe_error(
                404,
                "invalid_request_error",
                f"No such transfer: '{transfer_id}'",
                code="resource_missing",
                param="id",
            )
        left = transfer["amount"] - transfer["amount_reversed"]
        amount = int(params.get("amount") or left)
        if amount > left:
            return _stripe_error(
                400,
                "invalid_request_error",
                "Amount requested exceeds the amount left on the transfer.",
                param="amount",
            )
        reversal = {
            "id": self._id("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "balance_transaction": self._id("txn"),
            "created": int(time.time()),
            "currency": transfer["currency"],
            "destination_payment_refund": self._id("pyr"),
            "metadata": {},
            "source_refund": None,
            "transfer": transfer_id,
        }
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)
        transfer["reversals"]["total_count"] += 1
        self.balance[transfer["currency"]] = self.balance.get(transfer["currency"], 0) + amount
        return 200, reversal

    def reverse(self, transfer_id: str, amount: int | None = None) -> JSON:
        """A reversal made on Stripe's side (the dashboard, or the platform's own code)."""
        with self.lock:
            params = {} if amount is None else {"amount": str(amount)}
            status, body = self._reversal_create(transfer_id, params)
            assert status == 200, body
            return body

    def transfers_to(self, destination: str) -> list[JSON]:
        with self.lock:
            return [t for t in self.transfers.values() if t["destination"] == destination]


def _paypal_error(
    status: int, name: str, message: str, details: list[JSON] | None = None
) -> tuple[int, JSON]:
    body: JSON = {
        "name": name,
        "message": message,
        "debug_id": secrets.token_hex(6),
        "information_link": "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors",
    }
    if details:
        body["details"] = details
    return status, body


@dataclass
class PayPalOutcome:
    """How the stub settles items paid to one receiver: a PayPal `transaction_status` and, for
    the unhappy ones, the item's `errors` name and message."""

    status: str = "SUCCESS"
    error_name: str = ""
    error_message: str = ""


@dataclass
class _PayPalBatch:
    header: JSON
    items: list[JSON] = field(default_factory=list)


class PayPalStub(_StubServer):
    """`POST /v1/oauth2/token`, `POST /v1/payments/payouts`, `GET /v1/payments/payouts/{id}`,
    `GET /v1/payments/payouts-item/{id}`.

    A new batch is `PENDING` with its items `PENDING`; `settle()` moves every pending item to
    the outcome set for its receiver in `outcomes` (default SUCCESS) and the batch to SUCCESS.
    `balance` (minor units of the amounts' value string, per currency) refuses a batch above it
    with 422 `INSUFFICIENT_FUNDS`; `fail_next` answers the next POSTs with those HTTP statuses.
    """

    name = "paypal"

    def __init__(
        self,
        *,
        client_id: str = "stub-client-id",
        client_secret: str = "stub-secret",
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens: set[str] = set()
        self.batches: dict[str, _PayPalBatch] = {}
        self.by_request_id: dict[str, tuple[int, JSON]] = {}
        self.sender_batch_ids: set[str] = set()
        self.outcomes: dict[str, PayPalOutcome] = {}
        self.balance: dict[str, float] = {"USD": 1e9, "EUR": 1e9, "JPY": 1e12}
        self.fail_next: list[int] = []
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):03d}{secrets.token_hex(5).upper()}"

    def handle(self, request: Recorded) -> tuple[int, JSON, dict[str, str]]:
        path = urlsplit(request.path).path
        if request.method == "POST" and path == "/v1/oauth2/token":
            return (*self._token(request), {})
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in self.tokens:
            return (
                401,
                {
                    "error": "invalid_token",
                    "error_description": "Token signature verification failed",
                },
                {},
            )
        if request.method == "POST" and self.fail_next:
            return (
                *_paypal_error(
                    self.fail_next.pop(0), "INTERNAL_SERVICE_ERROR", "An internal error occurred."
                ),
                {},
            )
        if request.method == "POST" and path == "/v1/payments/payouts":
            request_id = request.headers.get("paypal-request-id", "")
            if request_id and request_id in self.by_request_id:
                status, body = self.by_request_id[request_id]
                return status, body, {"PayPal-Request-Id": request_id}
            status, body = self._payout_create(json.loads(request.body or b"{}"))
            if request_id:
                self.by_request_id[request_id] = (status, body)
            return status, body, ({"PayPal-Request-Id": request_id} if request_id else {})
        if request.method == "GET" and path.startswith("/v1/payments/payouts/"):
            batch = self.batches.get(path.rsplit("/", 1)[1])
            if batch is None:
                return (
                    *_paypal_error(
                        404, "INVALID_RESOURCE_ID", "Requested resource ID was not found."
                    ),
                    {},
                )
            return 200, self._batch_json(batch), {}
        if request.method == "GET" and path.startswith("/v1/payments/payouts-item/"):
            item_id = path.rsplit("/", 1)[1]
            for batch in self.batches.values():
                for item in batch.items:
                    if item["payout_item_id"] == item_id:
                        return 200, item, {}
            return (
                *_paypal_error(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found."),
                {},
            )
        return *_paypal_error(404, "NOT_FOUND", f"No route for {request.method} {path}"), {}

    def _token(self, request: Recorded) -> tuple[int, JSON]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = _form(request.body)
        if request.headers.get("authorization") != f"Basic {expected}":
            return 401, {
                "error": "invalid_client",
                "error_description": "Client Authentication failed",
            }
        if form.get("grant_type") != "client_credentials":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "Grant Type is NULL",
            }
        token = "A21AA" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return 200, {
            "scope": "https://uri.paypal.com/services/payments/payouts",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": 32400,
            "nonce": "2026-12-06T00:00:00Z" + secrets.token_hex(8),
        }

    def _payout_create(self, body: JSON) -> tuple[int, JSON]:
        header = body.get("sender_batch_header") or {}
        sender_batch_id = header.get("sender_batch_id")
        items = body.get("items") or []
        if not sender_batch_id or not items:
            return _paypal_error(
                400,
                "VALIDATION_ERROR",
                "Invalid request - see details",
                [{"field": "sender_batch_header", "location": "body", "issue": "Required"}],
            )
        if sender_batch_id in self.sender_batch_ids:
            return _paypal_error(
                400,
                "USER_BUSINESS_ERROR",
                "User business error.",
                [
                    {
                        "field": "SENDER_BATCH_ID",
                        "location": "body",
                        "issue": "Batch with given sender_batch_id already exists",
                        "link": [],
                    }
                ],
            )
        for index, item in enumerate(items):
            if "@" not in (item.get("receiver") or ""):
                return _paypal_error(
                    400,
                    "VALIDATION_ERROR",
                    "Invalid request - see details",
                    [
                        {
                            "field": f"items[{index}].receiver",
                            "location": "body",
                            "issue": "Receiver is invalid or does not match with type",
                        }
                    ],
                )
        totals: dict[str, float] = {}
        for item in items:
            currency = item["amount"]["currency"]
            totals[currency] = totals.get(currency, 0) + float(item["amount"]["value"])
        for currency, total in totals.items():
            if self.balance.get(currency, 0) < total:
                return _paypal_error(
                    422,
                    "INSUFFICIENT_FUNDS",
                    "Sender does not have sufficient funds. Please add funds and retry.",
                )
        for currency, total in totals.items():
            self.balance[currency] -= total
        self.sender_batch_ids.add(sender_batch_id)
        batch_id = self._id("BATCH")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        batch = _PayPalBatch(
            header={
                "payout_batch_id": batch_id,
                "batch_status": "PENDING",
                "time_created": now,
                "sender_batch_header": header,
                "amount": {
                    "currency": items[0]["amount"]["currency"],
                    "value": items[0]["amount"]["value"] if len(items) == 1 else "0",
                },
            }
        )
        for item in items:
            payout_item_id = self._id("ITEM")
            batch.items.append(
                {
                    "payout_item_id": payout_item_id,
                    "transaction_status": "PENDING",
                    "payout_batch_id": batch_id,
                    "payout_item": {
                        "recipient_type": item.get("recipient_type", "EMAIL"),
                        "amount": item["amount"],
                        "note": item.get("note", ""),
                        "receiver": item["receiver"],
                        "sender_item_id": item.get("sender_item_id", ""),
                    },
                    "time_processed": now,
                    "links": [
                        {
                            "href": f"{self.url}/v1/payments/payouts-item/{payout_item_id}",
                            "rel": "item",
                            "method": "GET",
                        }
                    ],
                }
            )
        self.batches[batch_id] = batch
        return 201, {
            "batch_header": {
                "sender_batch_header": header,
                "payout_batch_id": batch_id,
                "batch_status": "PENDING",
            },
            "links": [
                {
                    "href": f"{self.url}/v1/payments/payouts/{batch_id}",
                    "rel": "self",
                    "method": "GET",
                    "encType": "application/json",
                }
            ],
        }

    def _batch_json(self, batch: _PayPalBatch) -> JSON:
        return {
            "batch_header": batch.header,
            "items": batch.items,
            "links": [
                {
                    "href": f"{self.url}/v1/payments/payouts/{batch.header['payout_batch_id']}",
                    "rel": "self",
                    "method": "GET",
                }
            ],
        }

    def settle(self, *, time_processed: str | None = None) -> None:
        """PayPal finishes processing: each pending item takes its receiver's outcome."""
        with self.lock:
            for batch in self.batches.values():
                for item in batch.items:
                    if item["transaction_status"] != "PENDING":
                        continue
                    outcome = self.outcomes.get(item["payout_item"]["receiver"], PayPalOutcome())
                    item["transaction_status"] = outcome.status
                    if time_processed:
                        item["time_processed"] = time_processed
                    if outcome.status == "SUCCESS":
                        item["transaction_id"] = self._id("TX")
                    if outcome.error_name:
                        item["errors"] = {
                            "name": outcome.error_name,
                            "message": outcome.error_message,
                        }
                batch.header["batch_status"] = "SUCCESS"

    def set_status(self, receiver: str, outcome: PayPalOutcome) -> None:
        """A later change on PayPal's side (an unclaimed payment returned, a reversal)."""
        with self.lock:
            for batch in self.batches.values():
                for item in batch.items:
                    if item["payout_item"]["receiver"] == receiver:
                        item["transaction_status"] = outcome.status
                        if outcome.error_name:
                            item["errors"] = {
                                "name": outcome.error_name,
                                "message": outcome.error_message,
                            }

    def items_to(self, receiver: str) -> list[JSON]:
        with self.lock:
            return [
                item
                for batch in self.batches.values()
                for item in batch.items
                if item["payout_item"]["receiver"] == receiver
            ]


def main() -> None:
    """`python -m tests.rails.stub_servers`: both stubs until Ctrl-C, and the settings that
    point a local deployment at them (every `acct_…` exists; PayPal items settle as SUCCESS
    within a second)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--stripe-port", type=int, default=0, help="default: any free port")
    parser.add_argument("--paypal-port", type=int, default=0, help="default: any free port")
    args = parser.parse_args()
    stripe_stub = StripeStub(port=args.stripe_port).start()
    paypal_stub = PayPalStub(port=args.paypal_port).start()
    assert isinstance(stripe_stub, StripeStub) and isinstance(paypal_stub, PayPalStub)
    stripe_stub.accounts = _AnyAccount()
    print(f"STRIPE_SECRET_KEY={stripe_stub.api_key} STRIPE_API_BASE={stripe_stub.url}")
    print(
        f"PAYPAL_CLIENT_ID={paypal_stub.client_id} PAYPAL_CLIENT_SECRET="
        f"{paypal_stub.client_secret} PAYPAL_BASE_URL={paypal_stub.url}",
        flush=True,
    )
    try:
        while True:
            time.sleep(1)
            paypal_stub.settle()
    except KeyboardInterrupt:
        pass
    finally:
        stripe_stub.stop()
        paypal_stub.stop()


class _AnyAccount(set):
    """Every `acct_…` id is a connected account (a stand-alone stub knows nobody's)."""

    def __contains__(self, account: object) -> bool:
        return isinstance(account, str) and account.startswith("acct_")


if __name__ == "__main__":
    main()
