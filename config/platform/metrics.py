"""GET /metrics (SPEC §15): Prometheus text format, for operators' scrapers only.

Two kinds of series (the list and the alerts to set are in docs/OPERATIONS.md, "Metrics"):

- Per request, counted by `MetricsMiddleware` in each server process: requests and latency by
  method, route and status. The route is the URL *pattern* the request resolved to
  (`api/v1/programs/<slug:program>/rewards/<str:pk>`), never the raw path, so the number of
  series is bounded by the URL configuration; anything unresolved counts as `<unmatched>`.
  Under gunicorn each worker is a process of its own: with PROMETHEUS_MULTIPROC_DIR set (an
  empty directory, emptied at each start), prometheus_client keeps the values in files there
  and a scrape of any worker sums every worker's, including those that were recycled.
- The state of the queues and books, read from the database at scrape time by
  `DatabaseCollector` (a handful of indexed queries, on the primary: a lagging replica would
  hide the very backlog an alert is for): events waiting by status and the age of the oldest,
  webhook messages pending and failed, payout batches waiting for approval or execution and
  payout items that failed, the last reconciliation's result and age. Nothing is kept in
  memory, so every process answers the same.

Access: from an address in METRICS_ALLOWED_IPS (addresses or networks) or with
`Authorization: Bearer $METRICS_TOKEN` (compared in constant time). Anyone else gets the plain
404 any unknown URL gets, so the endpoint does not advertise itself; with neither setting the
endpoint answers nobody.

The platform layer imports no domain app: the collector finds the domain's models through the
app registry (`apps.get_model`) and skips the ones that are not installed.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

PREFIX = "referral_ledger"
UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Per-process series; in multiprocess mode prometheus_client writes them to files instead.
REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    f"{PREFIX}_http_requests",
    "HTTP requests served, by method, route pattern and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time to serve a request (the application's part), by method and route pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)


def route_of(request: HttpRequest) -> str:
    """The URL pattern the request resolved to (bounded), or UNMATCHED."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None) if match is not None else None
    return route or UNMATCHED


class MetricsMiddleware:
    """Counts and times every request by method, route pattern and status. First in
    MIDDLEWARE, so a request that another middleware refuses counts too (as `<unmatched>`,
    having resolved no route)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        route = route_of(request)
        LATENCY.labels(method, route).observe(time.perf_counter() - started)
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        return response


# --- the database's state, read at scrape time ------------------------------------------------


def _model(label: str) -> Any:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _age(oldest: Any, now: Any) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


class DatabaseCollector(Collector):
    """Gauges computed from the primary database at each scrape (module docstring)."""

    # Event statuses that are work still to do (the partial index event_status_due covers them).
    EVENT_QUEUE = ("received", "processing", "failed")
    PAYOUT_BACKLOG = ("pending_approval", "approved")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        for part in (self._events, self._webhooks, self._payouts, self._reconciliation):
            try:
                yield from part(now)
            except Exception:  # a scrape reports what it can; the error is in the logs
                logger.exception("metrics: %s failed", part.__name__)

    def _events(self, now: Any) -> Iterable[GaugeMetricFamily]:
        Event = _model("rules.Event")
        if Event is None:
            return
        rows = {
            r["status"]: r
            for r in Event.objects.using(DEFAULT_DB_ALIAS)
            .filter(status__in=self.EVENT_QUEUE)
            .values("status")
            .annotate(n=Count("pk"), oldest=Min("created_at"))
            .order_by()
        }
        count = GaugeMetricFamily(
            f"{PREFIX}_events",
            "Events not (yet) processed, by status: received and processing are the queue, "
            "failed gave up after their last retry.",
            labels=["status"],
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_events_oldest_age_seconds",
            "Age of the oldest event in each status (0 when there is none): the queue's age.",
            labels=["status"],
        )
        for status in self.EVENT_QUEUE:
            row = rows.get(status, {})
            count.add_metric([status], row.get("n", 0))
            age.add_metric([status], _age(row.get("oldest"), now))
        yield count
        yield age

    def _webhooks(self, now: Any) -> Iterable[GaugeMetricFamily]:
        Message = _model("ledger.WebhookMessage")
        if Message is None:
            return
        qs = Message.objects.using(DEFAULT_DB_ALIAS)
        pending = qs.filter(status="pending").aggregate(n=Count("pk"), oldest=Min("created_at"))
        due = qs.filter(status="pending", next_attempt_at__lte=now).count()
        failed = qs.filter(status="failed").count()
        backlog = GaugeMetricFamily(
            f"{PREFIX}_webhook_messages",
            "Webhook messages by state: pending (not delivered yet), due (pending and past "
            "their next attempt time), failed (gave up; an operator may redeliver).",
            labels=["state"],
        )
        backlog.add_metric(["pending"], pending["n"])
        backlog.add_metric(["due"], due)
        backlog.add_metric(["failed"], failed)
        yield backlog
        yield GaugeMetricFamily(
            f"{PREFIX}_webhook_oldest_pending_age_seconds",
            "Age of the oldest webhook message not delivered yet (0 when there is none).",
            value=_age(pending["oldest"], now),
        )

    def _payouts(self, now: Any) -> Iterable[GaugeMetricFamily]:
        Batch = _model("ledger.PayoutBatch")
        if Batch is None:
            return
        rows = {
            r["status"]: r
            for r in Batch.objects.using(DEFAULT_DB_ALIAS)
            .filter(status__in=self.PAYOUT_BACKLOG)
            .values("status")
            .annotate(n=Count("pk"), oldest=Min("created_at"))
            .order_by()
        }
        count = GaugeMetricFamily(
            f"{PREFIX}_payout_batches_waiting",
            "Payout batches waiting for a person: pending_approval, approved (not executed).",
            labels=["status"],
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_payout_batches_oldest_age_seconds",
            "Age of the oldest batch in each waiting status (0 when there is none).",
            labels=["status"],
        )
        for status in self.PAYOUT_BACKLOG:
            row = rows.get(status, {})
            count.add_metric([status], row.get("n", 0))
            age.add_metric([status], _age(row.get("oldest"), now))
        yield count
        yield age
        Item = _model("ledger.PayoutItem")
        if Item is not None and any(f.name == "status" for f in Item._meta.get_fields()):
            # Items sent through a payout rail report sent, paid or failed (rules.rewards.rails).
            items = GaugeMetricFamily(
                f"{PREFIX}_payout_items",
                "Payout items sent through a rail and not paid: sent (in flight), failed.",
                labels=["status"],
            )
            counts = dict(
                Item.objects.using(DEFAULT_DB_ALIAS)
                .filter(status__in=["sent", "failed"])
                .values("status")
                .annotate(n=Count("pk"))
                .order_by()
                .values_list("status", "n")
            )
            for status in ("sent", "failed"):
                items.add_metric([status], counts.get(status, 0))
            yield items

    def _reconciliation(self, now: Any) -> Iterable[GaugeMetricFamily]:
        Run = _model("ledger.ReconciliationRun")
        if Run is None:
            return
        last = (
            Run.objects.using(DEFAULT_DB_ALIAS)
            .order_by("-finished_at", "-id")
            .values("status", "finished_at", "findings")
            .first()
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_reconciliation_last_clean",
            "1 when the last reconciliation run found nothing, 0 when it found discrepancies "
            "(and when none ever ran).",
            value=1 if last is not None and last["status"] == "clean" else 0,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_reconciliation_last_findings",
            "Findings of the last reconciliation run.",
            value=len(last["findings"] or []) if last is not None else 0,
        )
        if last is not None:  # absent until a run: alert on absent() too
            yield GaugeMetricFamily(
                f"{PREFIX}_reconciliation_last_age_seconds",
                "Seconds since the last reconciliation run finished (absent when none ran).",
                value=_age(last["finished_at"], now),
            )


# --- the endpoint ------------------------------------------------------------------------------


def _client_ip(request: HttpRequest) -> str:
    # Behind the proxy (docs/OPERATIONS.md) the connection is the proxy's: its X-Forwarded-For
    # entry, the last one, is the client's; earlier entries are whatever the client sent.
    if settings.CLICK_IP_FROM_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return str(request.META.get("REMOTE_ADDR", ""))


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n.strip(), strict=False) for n in settings.METRICS_ALLOWED_IPS]


def metrics_allowed(request: HttpRequest) -> bool:
    """True for a request from METRICS_ALLOWED_IPS or with the METRICS_TOKEN bearer token."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    try:
        address = ipaddress.ip_address(_client_ip(request))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks())


def registry_for_scrape() -> CollectorRegistry:
    """This process's series (or, in multiprocess mode, every process's) and the database's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessSeries())
    registry.register(DatabaseCollector())
    return registry


class _ProcessSeries(Collector):
    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD") or not metrics_allowed(request):
        raise Http404  # the same answer as any unknown URL
    body = generate_latest(registry_for_scrape())
    # generate_latest writes the classic text format (0.0.4), which every Prometheus reads.
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
