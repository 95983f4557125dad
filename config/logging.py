"""Structured logs: one JSON object per line on stderr, each carrying the request id of the
request (or task) that produced it, so a log line can be joined to its audit entries
(AuditEntry.request_id) and to the client's `X-Request-ID`."""

from __future__ import annotations

import logging
from typing import Any

from config.platform.context import current_request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            # django.request logs 4xx/5xx after the middleware has returned: read the request's.
            request = getattr(record, "request", None)
            record.request_id = current_request_id() or getattr(request, "request_id", "")
        return True


class GunicornAccessFilter(logging.Filter):
    """gunicorn logs each request with its "atoms" as the record's args: lift the useful ones into
    fields of the JSON line instead of a formatted string."""

    ATOMS = {
        "h": "remote",
        "m": "method",
        "U": "path",
        "q": "query",
        "s": "status",
        "B": "bytes",
        "M": "duration_ms",
        "a": "user_agent",
        "{x-request-id}o": "request_id",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if isinstance(atoms, dict):
            for atom, name in self.ATOMS.items():
                value = atoms.get(atom)
                if value not in (None, "-"):
                    setattr(record, name, value)
        return True


def logging_config(*, fmt: str = "json", level: str = "INFO") -> dict[str, Any]:
    """`fmt` is "json" (production) or "text" (a terminal during development)."""
    formatters: dict[str, Any] = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "config.logging.RequestIdFilter"},
            "gunicorn_access": {"()": "config.logging.GunicornAccessFilter"},
        },
        "formatters": formatters,
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt if fmt in formatters else "json",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # gunicorn's own loggers go through the same handler (config/gunicorn.conf.py).
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {
                "level": level,
                "handlers": [],
                "propagate": True,
                "filters": ["gunicorn_access"],
            },
        },
    }
