"""The OpenAPI schema tells the truth (issue 11, item 10): what schemathesis found, each checked
against the schema and against the live answer."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client

from rules.rewards.models import PayoutBatch

pytestmark = pytest.mark.django_db

WRITES = ("post", "put", "patch")


@pytest.fixture
def schema(db) -> dict:
    r = Client().get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    return json.loads(r.content)


def resolve(schema: dict, node: dict) -> dict:
    ref = node.get("$ref")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else node


def operations(schema: dict):
    for path, ops in schema["paths"].items():
        if path.startswith("/api/v1/programs/"):
            for method, op in ops.items():
                if method in ("get", *WRITES, "delete"):
                    yield path, method, op


def test_patch_webhook_endpoint_documents_secret_as_optional_and_answers_so(
    schema, superuser_api, url
):
    op = schema["paths"]["/api/v1/programs/{program}/webhook-endpoints/{id}"]["patch"]
    answer = resolve(schema, op["responses"]["200"]["content"]["application/json"]["schema"])
    assert "secret" in answer["properties"]
    assert "secret" not in answer.get("required", [])
    created = superuser_api.post(
        url("webhook-endpoints"),
        {"url": "https://example.com/hook", "events": ["reward.created"]},
        format="json",
    ).json()
    path = url(f"webhook-endpoints/{created['id']}")
    plain = superuser_api.patch(path, {"description": "x"}, format="json")
    assert plain.status_code == 200 and "secret" not in plain.json()
    assert set(plain.json()) <= set(answer["properties"])
    assert set(answer.get("required", [])) <= set(plain.json())
    rotated = superuser_api.patch(path, {"rotate_secret": True}, format="json")
    assert rotated.status_code == 200 and rotated.json()["secret"]


def test_export_csv_documents_its_409_and_answers_it(schema, superuser_api, url):
    op = schema["paths"]["/api/v1/programs/{program}/payout-batches/{id}/export.csv"]["get"]
    documented = op["responses"]["409"]
    assert "invalid_transition" in documented["description"]
    assert "application/problem+json" in documented["content"]
    r = superuser_api.post(url("payout-batches"), {}, format="json")
    assert r.status_code == 201, r.content
    batch = PayoutBatch.objects.get()
    r = superuser_api.get(url(f"payout-batches/{batch.pk}/export.csv"))
    assert r.status_code == 409 and r["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "invalid_transition"


def test_request_bodies_that_refuse_unknown_fields_say_so(schema, api, url):
    bodies = 0
    for path, method, op in operations(schema):
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if not content or "$ref" not in content["schema"]:
            continue  # free-form bodies (rule definitions) are checked by the rule schema
        component = resolve(schema, content["schema"])
        assert component.get("additionalProperties") is False, f"{method} {path}"
        bodies += 1
    assert bodies >= 15
    # ...and the answer agrees: an unknown field is 400.
    r = api.post(url("referrals"), {"referred": "bob", "referrer": "al", "x": 1}, format="json")
    assert r.status_code == 400 and r.json()["errors"] == [
        {"field": "x", "message": "Unknown field."}
    ]


def test_every_write_documents_413_with_the_limit(schema):
    limit = str(settings.API_MAX_BODY_BYTES)
    writes = [(p, m, op) for p, m, op in operations(schema) if m in WRITES]
    assert len(writes) > 25
    for path, method, op in writes:
        documented = op["responses"].get("413")
        assert documented, f"{method} {path} does not document 413"
        assert (
            limit in documented["description"] and "payload_too_large" in documented["description"]
        )
        assert "application/problem+json" in documented["content"]


def test_every_error_answer_is_documented_as_problem_json(schema):
    for path, method, op in operations(schema):
        for status, response in op["responses"].items():
            if status[0] in "45":
                assert "application/problem+json" in response.get("content", {}), (
                    f"{method} {path} {status}"
                )


@pytest.fixture
def superuser_api(program, admin_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(admin_user)
    return client
