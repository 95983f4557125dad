"""Every state change reaches the audit log, with its reason where people look for it (issue 11,
item 6): rules settings (fraud velocity, match attributes), users, groups, memberships and
permissions (through the admin and the ORM, never a password hash), and a held reward's
release, whose reason is in the reward's history too."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from config.platform.models import AuditEntry
from rules.rewards.models import Reward, RewardHistory
from rules.rewards.services.rewards import reward_create, reward_release
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def root(staff):
    return staff("root", superuser=True)


def _entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("pk"))


def _no_secrets(entries: list[AuditEntry]) -> None:
    text = json.dumps([[e.before, e.after] for e in entries])
    assert "pbkdf2" not in text and "argon2" not in text and "$" not in text


# --- users, groups, memberships, permissions: the ORM -------------------------------------------


def test_user_changes_through_the_orm_are_audited_without_secrets(groups):
    user = User.objects.create_user(username="eve", password="s3cret-pw", email="e@x.test")
    (created,) = _entries(action="user.created", object_id="eve")
    assert created.actor == "system" and created.program_id is None
    assert created.after is not None
    assert created.after["email"] == "e@x.test" and "password" not in created.after

    user.is_staff = True
    user.set_password("another-pw")
    user.save()
    (updated,) = _entries(action="user.updated", object_id="eve")
    assert updated.before == {"is_staff": False, "password": "(not shown)"}
    assert updated.after == {"is_staff": True, "password": "changed"}

    operators = Group.objects.get(name="operators")
    user.groups.add(operators)
    (added,) = _entries(action="user.groups_added", object_id="eve")
    assert (added.before, added.after) == ({"groups": []}, {"groups": ["operators"]})
    approvers = Group.objects.get(name="approvers")
    approvers.user_set.add(user)  # from the other side
    (added_reverse,) = _entries(action="user.groups_added", object_id="eve")[1:]
    assert added_reverse.after == {"groups": ["approvers", "operators"]}
    user.groups.remove(operators)
    (removed,) = _entries(action="user.groups_removed", object_id="eve")
    assert removed.before == {"groups": ["approvers", "operators"]}
    assert removed.after == {"groups": ["approvers"]}
    user.groups.clear()
    assert _entries(action="user.groups_removed", object_id="eve")[-1].after == {"groups": []}

    approve = Permission.objects.get(codename="approve_payoutbatch")
    user.user_permissions.add(approve)
    (perm,) = _entries(action="user.permissions_added", object_id="eve")
    assert perm.after == {"permissions": ["ledger.approve_payoutbatch"]}

    user.delete()
    (deleted,) = _entries(action="user.deleted", object_id="eve")
    assert deleted.before is not None and deleted.before["is_staff"] is True
    _no_secrets(_entries(object_type="user"))


def test_group_permission_changes_through_the_orm_are_audited(groups):
    group = Group.objects.create(name="auditors")
    approve = Permission.objects.get(codename="approve_payoutbatch")
    group.permissions.add(approve)
    approve.group_set.remove(group)  # from the other side
    group.name = "reviewers"
    group.save()
    group.delete()
    actions = [
        (e.action, e.object_id)
        for e in _entries(object_type="group")
        if e.object_id in ("auditors", "reviewers")
    ]
    assert actions == [
        ("group.created", "auditors"),
        ("group.permissions_added", "auditors"),
        ("group.permissions_removed", "auditors"),
        ("group.updated", "reviewers"),
        ("group.deleted", "reviewers"),
    ]
    added = _entries(action="group.permissions_added", object_id="auditors")[0]
    assert added.after == {"permissions": ["ledger.approve_payoutbatch"]}
    renamed = _entries(action="group.updated")[-1]
    assert (renamed.before, renamed.after) == ({"name": "auditors"}, {"name": "reviewers"})


def test_a_login_is_not_a_change_of_access(groups):
    User.objects.create_user(username="lou", password="pw-lou-123")
    before = AuditEntry.objects.count()
    assert Client().login(username="lou", password="pw-lou-123")
    assert AuditEntry.objects.count() == before


# --- users and groups: the admin ----------------------------------------------------------------


def test_user_changes_in_the_admin_are_audited_as_the_operator(root, groups):
    user = User.objects.create_user(username="ivy", password="pw-ivy-123")
    operators = Group.objects.get(name="operators")
    r = root.post(
        reverse("admin:auth_user_change", args=[user.pk]),
        {
            "username": "ivy",
            "first_name": "Ivy",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "is_staff": "on",
            "groups": [operators.pk],
            "user_permissions": [],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    updated = _entries(action="user.updated", object_id="ivy")[-1]
    assert updated.actor == "user:root"
    assert updated.after == {"first_name": "Ivy", "is_staff": True}
    (joined,) = _entries(action="user.groups_added", object_id="ivy")
    assert (joined.actor, joined.after) == ("user:root", {"groups": ["operators"]})

    r = root.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"usable_password": "true", "password1": "N3w-pass-word!", "password2": "N3w-pass-word!"},
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    changed = _entries(action="user.updated", object_id="ivy")[-1]
    assert changed.actor == "user:root" and changed.after == {"password": "changed"}
    _no_secrets(_entries(object_type="user"))


def test_group_changes_in_the_admin_are_audited_as_the_operator(root, groups):
    approve = Permission.objects.get(codename="approve_payoutbatch")
    r = root.post(
        reverse("admin:auth_group_add"), {"name": "treasury", "permissions": [approve.pk]}
    )
    assert r.status_code == 302
    created = _entries(object_id="treasury")
    assert [(e.action, e.actor) for e in created] == [
        ("group.created", "user:root"),
        ("group.permissions_added", "user:root"),
    ]


# --- a held reward's release --------------------------------------------------------------------


def _held(program) -> Reward:
    return reward_create(
        program=program,
        beneficiary="mallory",
        amount=900,
        currency="INR",
        reward_type="cash",
        source_key="held",
        hold_reason="self_referral: same email as referrer",
        actor="rule:1",
    )[0]


def test_a_release_reason_is_in_the_rewards_history(program, api, url):
    held = _held(program)
    reward_release(reward=held, reason="checked: siblings share an email", actor="user:ops")
    last = RewardHistory.objects.filter(reward=held).order_by("at", "pk").last()
    assert last is not None
    assert (last.status, last.actor) == ("pending", "user:ops")
    assert last.reason == (
        "Hold released (self_referral: same email as referrer): checked: siblings share an email"
    )
    entry = AuditEntry.objects.get(action="reward.released")
    assert entry.reason == "checked: siblings share an email"
    history = api.get(url(f"rewards/{held.pk}")).json()["history"]
    assert history[-1]["reason"].endswith("checked: siblings share an email")

    # Releasing a released reward changes nothing, in the history too.
    reward_release(reward=held, reason="again", actor="user:ops")
    assert RewardHistory.objects.filter(reward=held).count() == 2


def test_a_release_in_the_admin_shows_its_reason_on_the_reward(staff, program):
    ops = staff("olga", "operators")
    held = _held(program)
    r = ops.post(
        reverse("admin:ledger_heldreward_changelist"),
        {
            "action": "release",
            ACTION_CHECKBOX_NAME: [str(held.pk)],
            "confirmed": "yes",
            "reason": "known family",
        },
    )
    assert r.status_code == 302
    page = ops.get(reverse("admin:ledger_reward_change", args=[held.pk])).content.decode()
    history = page.split("reward-history")[1].split("</table>")[0]
    assert "known family" in history and "user:olga" in history
