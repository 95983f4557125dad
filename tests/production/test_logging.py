"""Structured logs: the configured handler writes one JSON object per line, carrying the request id
that the client sent (or that the server made), the same id the audit log records."""

from __future__ import annotations

import io
import json
import logging

import pytest

from config.platform.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def log_lines():
    """The root logger's console handler (from settings.LOGGING), writing into a buffer."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    finally:
        handler.setStream(previous)


def test_log_lines_are_json_with_the_request_id(api, url, log_lines):
    r = api.get(url("transactions/not-a-transaction"), HTTP_X_REQUEST_ID="req-abc-123")
    assert r.status_code == 404 and r["X-Request-ID"] == "req-abc-123"
    records = [rec for rec in log_lines() if rec["logger"] == "django.request"]
    assert records, "a 404 is logged by django.request"
    assert records[-1]["request_id"] == "req-abc-123"
    assert records[-1]["level"] == "WARNING" and "Not Found" in records[-1]["message"]
    assert {"time", "level", "logger", "message", "request_id"} <= records[-1].keys()


def test_the_same_request_id_reaches_the_audit_log(api, url, log_lines):
    r = api.post(
        url("accounts"),
        {"code": "user:bob:wallet", "kind": "liability", "currency": "INR"},
        format="json",
        HTTP_X_REQUEST_ID="req-audit-1",
    )
    assert r.status_code == 201
    entry = AuditEntry.objects.get(action="account.created")
    assert entry.request_id == "req-audit-1"
    logging.getLogger("ledger.test").info("outside any request")
    assert log_lines()[-1]["request_id"] == ""


def test_a_log_line_inside_a_request_context_has_its_id(log_lines):
    from config.platform.context import request_id_var

    token = request_id_var.set("req-ctx-9")
    try:
        logging.getLogger("config.platform.webhooks.services").warning(
            "delivery failed", extra={"n": 1}
        )
    finally:
        request_id_var.reset(token)
    line = log_lines()[-1]
    assert line == {
        "time": line["time"],
        "level": "WARNING",
        "logger": "config.platform.webhooks.services",
        "message": "delivery failed",
        "request_id": "req-ctx-9",
        "n": 1,
    }


def test_server_makes_an_id_when_the_client_sends_none(api, url, log_lines):
    r = api.get(url("transactions/nope"))
    rid = r["X-Request-ID"]
    assert len(rid) == 32
    assert [rec["request_id"] for rec in log_lines() if rec["logger"] == "django.request"] == [rid]
