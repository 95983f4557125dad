"""GET/POST P/participants/{id}/links (SPEC section 11)."""

from __future__ import annotations

import pytest

from config.platform.models import AuditEntry
from rules.links.models import ReferralLink
from rules.rewards.services.programs import program_create
from rules.services.participants import participant_get_or_create

pytestmark = pytest.mark.django_db


def test_create_and_list(api, url, alice):
    r = api.post(
        url("participants/alice/links"),
        {"slug": "spring-24", "destination": "https://Example.com/sale"},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["slug"] == "spring-24"
    assert r.json()["destination"] == "https://example.com/sale"
    assert r.json()["path"] == f"/r/{alice.referral_code}/spring-24"
    assert (
        api.post(url("participants/alice/links"), {"slug": "b"}, format="json").status_code == 201
    )
    entry = AuditEntry.objects.filter(action="referral_link.created").latest("id")
    assert entry.after is not None and entry.after["slug"] == "b"
    r = api.get(url("participants/alice/links"))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"next", "previous", "results"}
    assert [link["slug"] for link in body["results"]] == ["b", "spring-24"]


def test_same_slug_twice_is_409(api, url, alice):
    assert (
        api.post(url("participants/alice/links"), {"slug": "x"}, format="json").status_code == 201
    )
    r = api.post(url("participants/alice/links"), {"slug": "x"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "already_exists"


def test_slug_is_per_participant(api, url, alice, shop):
    participant_get_or_create(program=shop, external_id="bob", actor="t")
    for who in ("alice", "bob"):
        r = api.post(url(f"participants/{who}/links"), {"slug": "same"}, format="json")
        assert r.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "Upper"},
        {"slug": ""},
        {"slug": "a" * 41},
        {"slug": "sp ace"},
        {"slug": "a/b"},
        {"slug": "ünï"},
        {"slug": 5},
        {"slug": "ok\n"},
        {"slug": "ok", "destination": "https://evil.com/"},
        {"slug": "ok", "destination": "//evil.com"},
        {"slug": "ok", "destination": "https://example.com@evil.com/"},
        {"slug": "ok", "destination": "javascript:alert(1)"},
        {"slug": "ok", "extra": 1},
        {"destination": "https://example.com/"},
    ],
)
def test_bad_input_is_400(api, url, alice, body):
    r = api.post(url("participants/alice/links"), body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "validation_error"
    assert not ReferralLink.objects.exists()


def test_unknown_participant_is_404(api, url, shop):
    assert api.get(url("participants/nobody/links")).status_code == 404
    r = api.post(url("participants/nobody/links"), {"slug": "x"}, format="json")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_another_programs_participant_is_404(api, url, alice):
    other, _ = program_create(slug="globex", name="Globex", currency="USD")
    participant_get_or_create(program=other, external_id="gina", actor="t")
    assert api.get(url("participants/gina/links")).status_code == 404
    assert api.post(url("participants/gina/links"), {"slug": "x"}, format="json").status_code == 404
    # and the program's own key on the other program's path: 404 too
    assert api.get(url("participants/gina/links", slug="globex")).status_code == 404
    assert not ReferralLink.objects.exists()


def test_permissions(client, url, alice, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("rita", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="rule authors"))
    client.force_login(user)
    assert client.get(url("participants/alice/links")).status_code == 403
    operator = django_user_model.objects.create_user("olga", password="x", is_staff=True)
    operator.groups.add(Group.objects.get(name="operators"))
    client.force_login(operator)
    assert client.get(url("participants/alice/links")).status_code == 200
    r = client.post(url("participants/alice/links"), {"slug": "x"}, content_type="application/json")
    assert r.status_code == 403


def test_openapi_documents_the_routes(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    schema = r.json() if r["Content-Type"].endswith("json") else None
    if schema is None:
        import yaml

        schema = yaml.safe_load(r.content)
    paths = schema["paths"]
    links = paths["/api/v1/programs/{program}/participants/{external_id}/links"]
    assert {"get", "post"} <= set(links)
    assert {"get", "patch"} <= set(paths["/api/v1/programs/{program}"])
    assert "/api/v1/programs/{program}/" not in paths  # the same view, listed once


def test_participant_admin_shows_links(admin_client, alice):
    ReferralLink.objects.create(participant=alice, slug="shown-here")
    r = admin_client.get(f"/admin/rules/participant/{alice.pk}/change/")
    assert r.status_code == 200 and b"shown-here" in r.content
