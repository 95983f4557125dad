"""Attacks on the operator console and the rule builder (issue 11 review): hostile ids in admin
URLs and change list selections, a reconciliation run for a program that is not one, the
builder's pages for staff who may not see rules, and keys made for someone else."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from config.platform.api_keys import api_key_create, service_identity_get_or_create
from config.platform.models import ApiKey, AuditEntry, Program
from ledger.models import ReconciliationRun
from rules.rewards.models import Reward
from rules.rewards.services.rewards import reward_create
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db

# What a hostile client posts where an id is expected: not a number, NUL, not a UUID, a number
# written in Arabic-Indic digits, one beyond bigint.
BAD_IDS = ["abc", "\x00", "1.5", "00000000-0000-0000-0000-00000000000x", "99999999999999999999999"]


@pytest.fixture
def root(db, groups) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def _changelists_with_actions() -> list[tuple[str, str]]:
    """(change list URL, action name) for every action of every registered admin."""
    out = []
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        names = {"delete_selected"}
        for action in model_admin.actions or []:
            names.add(action if isinstance(action, str) else action.__name__)
        out += [(url, name) for name in sorted(names)]
    return out


def test_the_enumeration_sees_the_money_actions():
    pairs = set(_changelists_with_actions())
    assert ("/admin/ledger/reward/", "confirm") in pairs
    assert ("/admin/ledger/apikey/", "revoke") in pairs
    assert ("/admin/rules/rule/", "publish") in pairs


def test_a_selection_that_is_not_an_id_is_refused_on_every_action(root, program):
    """Was a 500 on every change list with actions (a ValueError or a ValidationError while
    the action read `pk__in=[...]`), Django's own delete_selected on users included."""
    reward_create(
        program=program,
        beneficiary="carol",
        amount=100,
        currency="INR",
        reward_type="cash",
        source_key="s1",
        actor="t",
    )
    audit = AuditEntry.objects.count()
    failures = []
    for url, action in _changelists_with_actions():
        for bad in BAD_IDS:
            r = root.post(
                url,
                {
                    "action": action,
                    "_selected_action": [bad],
                    "confirmed": "yes",
                    "reason": "attack",
                    "post": "yes",
                },
            )
            if r.status_code >= 500:
                failures.append(f"{url} {action} {bad!r}: {r.status_code}")
    assert not failures, "\n".join(failures)
    assert AuditEntry.objects.count() == audit
    assert Reward.objects.get().status == "pending"


def test_a_refused_selection_says_so_and_goes_back_to_the_list(root, program):
    r = root.post(
        "/admin/ledger/reward/",
        {"action": "confirm", "_selected_action": ["abc"], "confirmed": "yes", "reason": "x"},
        follow=True,
    )
    assert r.status_code == 200
    assert any("not a row of this list" in m.message for m in r.context["messages"])


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(
    "path", ["/admin/ledger/reward/{}/act/confirm/", "/admin/ledger/heldreward/{}/act/release/"]
)
def test_a_reward_button_for_an_id_that_is_not_one_is_404(root, program, path, bad):
    """Was a 500: the button's view looked the reward up with get_object_or_404(pk=...)."""
    url = path.format(bad.replace("\x00", "%00"))
    if "\x00" in bad:  # the input guard refuses NUL in any path first
        assert root.get(url).status_code == 400
        return
    assert root.get(url).status_code == 404
    assert root.post(url, {"confirmed": "yes", "reason": "x"}).status_code == 404


@pytest.mark.parametrize(
    "chosen", ["abc", "\x00", "-1", "\u0661", "99999999999999999999999", "999"]
)
def test_a_reconciliation_run_for_a_program_that_is_not_one_runs_nothing(root, program, chosen):
    """Was a 500 for a non-number, and a run of every program for an unknown number."""
    r = root.post(reverse("admin:ledger_reconciliationrun_run"), {"program": chosen}, follow=True)
    assert r.status_code == 200
    assert not ReconciliationRun.objects.exists()
    assert any("No such program" in m.message for m in r.context["messages"])


def test_a_reconciliation_run_for_one_program_or_all_still_runs(root, program):
    url = reverse("admin:ledger_reconciliationrun_run")
    assert root.post(url, {"program": str(program.pk)}).status_code == 302
    assert ReconciliationRun.objects.get().program == program
    assert root.post(url, {"program": ""}).status_code == 302
    assert ReconciliationRun.objects.filter(program=None).exists()


# --- the rule builder -------------------------------------------------------------------------


def _staff(username: str, *group_names: str) -> Client:
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=group_names))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("group", ["operators", "approvers", "key managers", None])
def test_the_builder_is_refused_to_staff_who_may_not_see_rules(groups, program, group, api, url):
    """The pages listed every program's rules to any staff user, while the rules API refuses
    them to anyone without rules.view_rule."""
    rule = api.post(
        url("rules"),
        {
            "name": "Secret launch bonus",
            "trigger": "signup",
            "conditions": {"operator": "AND", "conditions": []},
            "actions": [
                {
                    "type": "credit_reward",
                    "params": {"amount": 100, "currency": "INR", "reward_type": "cash"},
                }
            ],
        },
        format="json",
    ).json()
    client = _staff("someone", *([group] if group else []))
    for path in ("/builder/", "/builder/acme/rules/new", f"/builder/acme/rules/{rule['id']}"):
        r = client.get(path)
        assert r.status_code == 403, path
        assert b"Secret launch bonus" not in r.content
    assert b"rule-builder-link" not in client.get("/admin/").content


def test_the_builder_still_opens_for_rule_authors(groups, program):
    client = _staff("rita", "rule authors")
    assert client.get("/builder/").status_code == 200
    assert b"rule-builder-link" in client.get("/admin/").content


# --- keys for someone else ----------------------------------------------------------------


def test_a_key_manager_cannot_make_a_key_that_acts_as_an_approver(groups, program):
    """The owner field is not on a key manager's form; posting it anyway still makes the key
    theirs, so it cannot approve what they make."""
    approver = get_user_model().objects.create_user("bob", password="pw", is_staff=True)
    approver.groups.add(Group.objects.get(name="approvers"))
    km = _staff("kim", "key managers")
    r = km.post(
        "/admin/ledger/apikey/add/", {"program": program.pk, "name": "x", "owner": approver.pk}
    )
    assert r.status_code == 302
    key = ApiKey.objects.get(name="x")
    assert key.owner.get_username() == "kim"
    entry = AuditEntry.objects.get(action="api_key.created", object_id=str(key.pk))
    assert entry.after is not None
    assert entry.actor == "user:kim" and entry.after["owner"] == "user:kim"


def test_a_superuser_cannot_make_a_key_that_acts_as_a_person(groups, program, root):
    """Only a service identity (no staff, no password) may be named as another owner: a key
    acting as an approver would be one person acting as two."""
    approver = get_user_model().objects.create_user("bob", password="pw", is_staff=True)
    approver.groups.add(Group.objects.get(name="approvers"))
    r = root.post(
        "/admin/ledger/apikey/add/", {"program": program.pk, "name": "x", "owner": approver.pk}
    )
    assert r.status_code == 200  # the form again, with its error
    assert not ApiKey.objects.filter(name="x").exists()
    with pytest.raises(Exception, match="service identity"):
        api_key_create(
            program=program,
            owner=approver,
            created_by=get_user_model().objects.get(username="root"),
        )


def test_a_service_identity_cannot_be_a_person(groups, program):
    """`create_api_key --service bob` must not turn bob (staff, with a password) into a key
    owner."""
    get_user_model().objects.create_user("bob", password="pw", is_staff=True)
    with pytest.raises(Exception, match="person's account"):
        service_identity_get_or_create(username="bob", groups=("approvers",))
    assert not Program.objects.filter(slug="bob").exists()


# --- money typed in the console -------------------------------------------------------------

# What an operator (or a hostile page) may type where the console asks for an amount: an
# exponent, not a number, Arabic-Indic or full-width digits, Indian digit grouping, a sign,
# more decimals than the currency has, another currency, a NUL.
REFUSED_MONEY = [
    ("INR", "1e5"),
    ("INR", "NaN"),
    ("INR", "Infinity"),
    ("INR", "\u0661\u0662\u0663"),
    ("INR", "\uff11\uff12\uff13"),
    ("INR", "1,50,000.00"),
    ("INR", "-5"),
    ("INR", "+5"),
    ("INR", "15.005"),
    ("JPY", "1.5"),
    ("KWD", "1.0005"),
    ("INR", "1,500.00 USD"),
    ("INR", "1500\x00"),
    ("INR", "0x10"),
    ("INR", "1_000"),
    ("JPY", "10,000,000,000,000,000"),  # above the money limit (10^15 minor units)
    ("INR", "10,000,000,000,000.01"),
]


@pytest.mark.parametrize(("currency", "typed"), REFUSED_MONEY)
def test_money_the_console_refuses(currency, typed):
    from django import forms

    from config.platform.admin.common import MoneyField

    with pytest.raises(forms.ValidationError):
        MoneyField(currency=currency).clean(typed)


@pytest.mark.parametrize(
    ("currency", "typed", "minor"),
    [
        ("INR", "1,500.00", 150000),
        ("INR", "1,500.00 INR", 150000),
        ("JPY", "1,500", 1500),
        ("KWD", "1.5", 1500),
        ("INR", "10,000,000,000,000.00", 10**15),  # the money limit itself
    ],
)
def test_money_the_console_accepts_exactly(currency, typed, minor):
    from config.platform.admin.common import MoneyField

    assert MoneyField(currency=currency).clean(typed) == minor


@pytest.mark.parametrize("typed", ["1e5", "\u0661\u0662\u0663", "1,50,000.00", "-5", "15.005"])
def test_a_payout_item_typed_wrongly_adds_nothing(groups, program, confirmed_reward, typed):
    from rules.rewards.services import payouts

    confirmed_reward("carol", 10**7)
    batch = payouts.payout_batch_create(program=program, actor="user:olga")
    ops = _staff("olga", "operators")
    r = ops.post(
        reverse("admin:ledger_payoutbatch_step", args=[batch.pk, "add_item"]),
        {"beneficiary": "carol", "amount": typed},
    )
    assert r.status_code == 302
    assert not batch.items.exists()
