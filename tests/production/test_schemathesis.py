"""Bad input, generated: schemathesis reads /api/schema/ from the WSGI app and sends schema-valid
and schema-violating requests to every operation of a seeded program. No answer may be a 5xx, and
every documented answer must match its schema and media type.

A few hundred cases per run (EXAMPLES per operation and mode), derandomized so CI runs are
reproducible; set SCHEMATHESIS_EXAMPLES to dig deeper locally."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode

from config.platform.api_keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "4"))
CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.content_type_conformance,
    checks.status_code_conformance,
]


def _exercise(operation, mode: GenerationMode, *, slug: str, key: str) -> int:
    sent = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(
            mode, path_parameters={"program": slug}, headers={"Authorization": f"Bearer {key}"}
        )
    )
    def run(case):
        nonlocal sent
        # Negative mode may break the path or auth too; keep them, the body/query is the target.
        case.path_parameters = {**(case.path_parameters or {}), "program": slug}
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
        response = case.call()
        sent += 1
        case.validate_response(response, checks=CHECKS)

    run()
    return sent


def _brief(exc: BaseException) -> str:
    """The failing check, the response status and the reproducing request, without the schema
    dumps (the full report is one re-run away with pytest -x)."""
    text = str(exc)
    keep = [
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith(("- ", "[", "curl ", "schemathesis.", "Response violates"))
        or "Server error" in line
        or "is not of type" in line
        or "Undocumented" in line
    ]
    return "\n    ".join(dict.fromkeys(keep)) or text[:500]


def test_every_operation_survives_generated_input(program):
    key = api_key_create(program=program, name="schemathesis")[1]
    schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())
    failures: list[str] = []
    total = 0
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    program_operations = [op for op in operations if "{program}" in op.path]
    assert len(program_operations) > 20
    for operation in program_operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                total += _exercise(operation, mode, slug=program.slug, key=key)
            except Unsatisfiable:
                # Negative mode needs a parameter it may break; path and auth are pinned, so an
                # operation without a body or query has none.
                continue
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
                failures.append(
                    f"{operation.method.upper()} {operation.path} [{mode}]: {_brief(exc)}"
                )
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
    assert total >= 100
