"""The API's error handler: a lost database is a 503 the client may retry, not a 500."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError

from config.platform.api.errors import problem_exception_handler


@pytest.mark.parametrize(
    "exc",
    [OperationalError("server closed the connection"), InterfaceError("connection already closed")],
)
def test_a_lost_database_is_a_retryable_503(exc: Exception) -> None:
    response = problem_exception_handler(exc, {})
    assert response is not None
    assert response.status_code == 503
    assert response.data["code"] == "service_unavailable"
    assert response["Retry-After"] == "1"
    assert response.content_type == "application/problem+json"


def test_any_other_error_is_still_a_500() -> None:
    response = problem_exception_handler(RuntimeError("boom"), {})
    assert response is not None
    assert response.status_code == 500
    assert response.data["code"] == "internal_error"
