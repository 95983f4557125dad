"""Two-person control means two people (issue 11, item 2): an API key acts as its owner, the
approver of a payout batch is none of its creator, submitter and item authors (service and
database), and creating keys is a right of its own, audited."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from config.platform.api_keys import api_key_create, service_identity_get_or_create
from config.platform.exceptions import FourEyesViolation, PermissionDenied
from config.platform.models import ApiKey, AuditEntry
from rules.rewards.models import PayoutBatch, PayoutItem
from rules.rewards.services import payouts
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


def _person(username: str, *groups: str, superuser: bool = False):
    user = get_user_model().objects.create_user(
        username=username, password="pw", is_staff=True, is_superuser=superuser
    )
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


def _session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _service_key(program, username: str, *groups: str) -> APIClient:
    owner, _ = service_identity_get_or_create(username=username, groups=groups)
    return _key_client(api_key_create(program=program, owner=owner)[1])


def _post(client, path, body=None):
    return client.post(path, body or {}, format="json")


# --- the reproductions ----------------------------------------------------------------------


def test_one_operator_with_a_self_made_key_cannot_approve_by_session(
    program, url, groups, confirmed_reward
):
    """An operator who may also manage keys and approve makes a key for themself in the admin,
    creates, fills and submits a batch with it, then approves with their own session: 403."""
    confirmed_reward("carol", 1500)
    alice = _person("alice", "operators", "key managers", "approvers")
    admin = Client()
    admin.force_login(alice)
    r = admin.post(reverse("admin:ledger_apikey_add"), {"program": program.pk, "name": "mine"})
    assert r.status_code == 302
    key = ApiKey.objects.get(name="mine")
    assert key.owner == alice and key.actor == "user:alice"
    raw = next(str(m) for m in get_messages(r.wsgi_request)).split("<code class='raw-api-key'>")[1]
    alice_key = _key_client(raw.split("</code>")[0])

    batch = _post(alice_key, url("payout-batches")).json()
    assert batch["created_by"] == "user:alice"
    base = url(f"payout-batches/{batch['id']}")
    assert _post(alice_key, f"{base}/items", {"beneficiary": "carol"}).status_code == 201
    assert _post(alice_key, f"{base}/submit").json()["status"] == "pending_approval"

    r = _post(_session(alice), f"{base}/approve")
    assert (r.status_code, r.json()["code"]) == (403, "four_eyes_violation")
    r = _post(alice_key, f"{base}/approve")
    assert (r.status_code, r.json()["code"]) == (403, "four_eyes_violation")
    assert PayoutBatch.objects.get(pk=batch["id"]).status == "pending_approval"
    # Another person may.
    bob = _person("bob", "approvers")
    assert _post(_session(bob), f"{base}/approve").json()["status"] == "approved"


def test_a_key_cannot_approve_a_batch_it_filled_that_another_created(
    program, url, confirmed_reward
):
    confirmed_reward("carol", 1500)
    creator = _service_key(program, "svc-creator", "api clients")
    filler = _service_key(program, "svc-filler", "api clients", "approvers")
    batch = _post(creator, url("payout-batches")).json()
    base = url(f"payout-batches/{batch['id']}")
    assert _post(filler, f"{base}/items", {"beneficiary": "carol"}).status_code == 201
    assert _post(filler, f"{base}/submit").status_code == 200
    r = _post(filler, f"{base}/approve")
    assert (r.status_code, r.json()["code"]) == (403, "four_eyes_violation")
    assert "added items to" in r.json()["detail"] or "submitted" in r.json()["detail"]
    r = _post(filler, f"{base}/execute")
    assert (r.status_code, r.json()["code"]) == (409, "invalid_transition")


def test_the_submitter_alone_cannot_approve(program, confirmed_reward):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor="user:a")
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor="user:a")
    payouts.payout_batch_submit(batch=batch, actor="user:s")
    with pytest.raises(FourEyesViolation, match="submitted"):
        payouts.payout_batch_approve(batch=batch, actor="user:s")
    assert payouts.payout_batch_approve(batch=batch, actor="user:x").approved_by == "user:x"


def test_an_item_author_alone_cannot_approve(program, confirmed_reward):
    confirmed_reward("carol", 1000)
    confirmed_reward("dave", 1000)
    batch = payouts.payout_batch_create(program=program, actor="user:a")
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor="user:a")
    item = payouts.payout_item_add(batch=batch, beneficiary="dave", actor="user:i")
    assert item.added_by == "user:i"
    payouts.payout_batch_submit(batch=batch, actor="user:a")
    with pytest.raises(FourEyesViolation, match="added items to"):
        payouts.payout_batch_approve(batch=batch, actor="user:i")


def test_approving_needs_the_approve_permission(program, api, url, confirmed_reward):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor="user:a")
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor="user:a")
    payouts.payout_batch_submit(batch=batch, actor="user:a")
    r = _post(api, url(f"payout-batches/{batch.pk}/approve"))  # api clients: no approve
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")


# --- the database refuses it too -------------------------------------------------------------


def _submitted(program, *, creator="user:a", submitter="user:s", author="user:i"):
    batch = PayoutBatch.objects.create(
        program=program, currency="INR", created_by=creator, status="draft"
    )
    PayoutItem.objects.create(batch=batch, beneficiary="carol", amount=100, added_by=author)
    PayoutBatch.objects.filter(pk=batch.pk).update(
        status="pending_approval", submitted_by=submitter
    )
    return batch


@pytest.mark.parametrize("approver", ["user:a", "user:s", "user:i"])
def test_the_database_refuses_an_approval_by_a_maker(program, approver):
    batch = _submitted(program)
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutBatch.objects.filter(pk=batch.pk).update(status="approved", approved_by=approver)
    PayoutBatch.objects.filter(pk=batch.pk).update(status="approved", approved_by="user:x")
    assert PayoutBatch.objects.get(pk=batch.pk).approved_by == "user:x"


def test_the_database_refuses_an_item_by_the_approver(program):
    batch = _submitted(program)
    PayoutBatch.objects.filter(pk=batch.pk).update(status="approved", approved_by="user:x")
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutItem.objects.create(batch=batch, beneficiary="dave", amount=100, added_by="user:x")


# --- keys act as their owner ------------------------------------------------------------------


def test_a_key_acts_as_its_owner(program, url, groups):
    alice = _person("alice", "operators")
    _, raw = api_key_create(program=program, owner=alice)
    client = _key_client(raw)
    r = _post(client, url("reconciliations"))
    assert r.status_code == 201 and r.json()["actor"] == "user:alice"
    # Her permissions, no more: operators may not book transactions.
    r = client.post(url("transactions"), {"postings": []}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert client.get(url("rewards")).status_code == 401


# --- creating keys is a right of its own, audited -----------------------------------------


def test_creating_a_key_needs_the_right(program, groups):
    oscar = _person("oscar", "operators", "approvers")
    with pytest.raises(PermissionDenied):
        api_key_create(program=program, created_by=oscar)
    admin = Client()
    admin.force_login(oscar)
    r = admin.post(reverse("admin:ledger_apikey_add"), {"program": program.pk, "name": "x"})
    assert r.status_code == 403
    assert not ApiKey.objects.exists()


def test_a_key_manager_makes_keys_for_themself_only(program, groups):
    kim = _person("kim", "key managers")
    other = _person("oscar", "operators")
    svc, _ = service_identity_get_or_create(username="svc-backend")
    for owner in (other, svc):
        with pytest.raises(PermissionDenied):
            api_key_create(program=program, owner=owner, created_by=kim)
    key, _ = api_key_create(program=program, created_by=kim)
    assert key.owner == kim


def test_a_superuser_may_make_a_key_for_a_service_identity_but_not_for_a_person(program, groups):
    root = _person("root", superuser=True)
    svc, _ = service_identity_get_or_create(username="svc-backend")
    key, _ = api_key_create(program=program, owner=svc, created_by=root)
    assert key.actor == "user:svc-backend"
    with pytest.raises(PermissionDenied):
        api_key_create(program=program, owner=_person("oscar", "operators"), created_by=root)


def test_key_creation_is_audited_with_who_and_for_whom(program, groups):
    root = _person("root", superuser=True)
    svc, _ = service_identity_get_or_create(username="svc-backend")
    admin = Client()
    admin.force_login(root)
    r = admin.post(
        reverse("admin:ledger_apikey_add"), {"program": program.pk, "owner": svc.pk, "name": "b"}
    )
    assert r.status_code == 302
    key = ApiKey.objects.get(name="b")
    entry = AuditEntry.objects.get(action="api_key.created", object_id=str(key.pk))
    assert entry.actor == "user:root" and entry.after is not None
    assert entry.after["owner"] == "user:svc-backend" and entry.after["service_identity"] is True


def test_a_service_identity_is_never_a_person(program, groups):
    _person("alice", "operators")
    with pytest.raises(Exception, match="person"):
        service_identity_get_or_create(username="alice")


# --- manage.py create_api_key --------------------------------------------------------------


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue()


def test_create_api_key_uses_the_programs_service_identity_by_default(program, url):
    raw = _command("acme", "--name", "backend").rstrip("\n").splitlines()[-1]
    key = ApiKey.objects.get(name="backend")
    assert key.owner.username == "api-acme" and not key.owner.is_staff
    assert not key.owner.has_usable_password()
    assert list(key.owner.groups.values_list("name", flat=True)) == ["api clients"]
    entry = AuditEntry.objects.get(action="api_key.created", object_id=str(key.pk))
    assert entry.after is not None
    assert entry.actor == "command:create_api_key" and entry.after["owner"] == "user:api-acme"
    client = _key_client(raw)
    assert client.get(url("rewards")).status_code == 200
    # A second key of the same identity is the same person.
    _command("acme", "--name", "backend-2")
    assert ApiKey.objects.get(name="backend-2").owner == key.owner


def test_create_api_key_service_group_and_owner_options(program, url, confirmed_reward, groups):
    approver_raw = _command(
        "acme", "--service", "acme-approver", "--group", "approvers"
    ).splitlines()[-1]
    owner = ApiKey.objects.get(owner__username="acme-approver").owner
    assert list(owner.groups.values_list("name", flat=True)) == ["approvers"]
    confirmed_reward("carol", 1000)
    backend = _key_client(_command("acme").splitlines()[-1])
    batch = _post(backend, url("payout-batches")).json()
    base = url(f"payout-batches/{batch['id']}")
    _post(backend, f"{base}/items", {"beneficiary": "carol"})
    _post(backend, f"{base}/submit")
    assert _post(backend, f"{base}/approve").status_code == 403
    assert _post(_key_client(approver_raw), f"{base}/approve").json()["status"] == "approved"

    alice = _person("alice", "operators")
    _command("acme", "--owner", "alice", "--name", "laptop")
    assert ApiKey.objects.get(name="laptop").owner == alice
    with pytest.raises(CommandError, match="No user"):
        _command("acme", "--owner", "nobody")
    with pytest.raises(CommandError, match="person"):
        _command("acme", "--service", "alice")
    with pytest.raises(CommandError, match="--group"):
        _command("acme", "--owner", "alice", "--group", "approvers")
