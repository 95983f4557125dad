"""Shared fixtures. The suite runs on the database named by DATABASE_URL: PostgreSQL for the
full run (make test / CI), SQLite as the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

MIGRATIONS = Path(__file__).resolve().parent.parent / "ledger" / "migrations"


def _patch_flush_for_append_only_tables() -> None:
    """Transactional tests end with a flush, which the immutability triggers refuse (as they
    should). Only the test harness lifts them, inside the flush's own transaction."""
    ops_class = type(connection.ops)
    original = ops_class.sql_flush
    if connection.vendor == "postgresql":

        def sql_flush(self, style, tables, **kwargs):
            statements = original(self, style, tables, **kwargs)
            return (
                ["SET LOCAL session_replication_role = replica", *statements] if statements else []
            )

    else:
        import sqlparse

        forward = (MIGRATIONS / "0002_immutability.sqlite.sql").read_text()
        reverse = (MIGRATIONS / "0002_immutability.sqlite.reverse.sql").read_text()
        drop = [s for s in sqlparse.split(reverse) if s.strip()]
        create = [s for s in sqlparse.split(forward) if "CREATE TRIGGER" in s]

        def sql_flush(self, style, tables, **kwargs):
            statements = original(self, style, tables, **kwargs)
            return [*drop, *statements, *create] if statements else []

    ops_class.sql_flush = sql_flush


_patch_flush_for_append_only_tables()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
            )


@pytest.fixture
def program(db):
    from ledger.services.programs import program_create

    program, _ = program_create(slug="acme", name="Acme", currency="INR")
    return program


@pytest.fixture
def api_key(program):
    from ledger.services.programs import api_key_create

    return api_key_create(program=program, name="tests")[1]


@pytest.fixture
def api(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def url():
    def build(path: str, slug: str = "acme") -> str:
        return f"/api/v1/programs/{slug}/{path.lstrip('/')}"

    return build
