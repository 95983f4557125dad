"""The operator's view of a participant (issue 13 item 6): one page with their balance,
rewards, referrer and downline, links and clicks, events, payouts and audit entries, each
linking to its filtered list; found by external id or email. And around it: the audit log as a
change list, success messages that say what happened, and where "View site" leads (Django's
test client)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from config.platform.api_keys import api_key_create
from config.platform.models import AuditEntry
from rules.links.models import Click
from rules.links.services.links import referral_link_create
from rules.links.services.rollup import clicks_rollup_day
from rules.models import Participant
from rules.rewards.models import Reward
from rules.rewards.services import payouts
from rules.rewards.services.rewards import reward_create
from rules.services.events import event_ingest
from rules.services.participants import participant_upsert
from rules.services.referrals import referral_create
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(staff):
    return staff("root", superuser=True)


@pytest.fixture
def ops(staff):
    return staff("olga", "operators")


@pytest.fixture
def alice(program, confirmed_reward, approved_batch):
    """alice (alice@example.com) referred by zoe; she referred bob and carol; 1,500.00 INR
    confirmed and paid, 20.00 INR confirmed, 7.50 INR pending; a named link with clicks; an
    event."""
    alice, _ = participant_upsert(
        program=program,
        external_id="alice",
        attributes={"email": "Alice@Example.com"},
        actor="test",
    )
    referral_create(program=program, referrer="zoe", referred="alice", actor="test")
    for friend in ("bob", "carol"):
        referral_create(program=program, referrer="alice", referred=friend, actor="test")
    confirmed_reward("alice", 150000)
    batch = approved_batch({"alice": None})
    payouts.payout_batch_execute(batch=batch, actor="user:bob")
    confirmed_reward("alice", 2000)
    reward_create(
        program=program,
        beneficiary="alice",
        amount=750,
        currency="INR",
        reward_type="cash",
        source_key="pending:alice",
        actor="test",
    )
    link = referral_link_create(participant=alice, slug="spring", actor="test")
    today = timezone.now()
    for visitor, target in (("v1", link), ("v2", link), ("v1", link), ("v3", None)):
        Click.objects.create(
            at=today,
            program=program,
            participant=alice,
            link=target,
            visitor_hash=visitor,
        )
    clicks_rollup_day(today.date())
    event_ingest(program=program, event_id="order-1", type="purchase", user="alice", actor="test")
    alice.refresh_from_db()
    return alice


def _page(client, participant: Participant) -> str:
    r = client.get(reverse("admin:rules_participant_change", args=[participant.pk]))
    assert r.status_code == 200
    return r.content.decode()


def _section(html: str, key: str) -> str:
    return html.split(f'id="participant-{key}"')[1].split("</section>")[0]


def _more_link(section: str) -> str:
    m = re.search(r'class="section-more"><a href="([^"]+)"', section)
    assert m is not None, section
    return unescape(m.group(1))


def _about_alice(entry: AuditEntry) -> bool:
    if entry.object_type == "participant" and entry.object_id == "alice":
        return True
    keys = ("beneficiary", "user", "referrer", "referred")
    return any((entry.after or {}).get(k) == "alice" for k in keys)


def _messages(response) -> str:
    return " | ".join(str(m.message) for m in response.wsgi_request._messages)


# --- the participant's page -------------------------------------------------------------------


def test_the_page_shows_balance_in_major_units(root, alice):
    html = _page(root, alice)
    balance = _section(html, "balance")
    assert 'data-key="pending">7.50 INR<' in balance
    assert 'data-key="available">20.00 INR<' in balance
    assert 'data-key="paid">1,500.00 INR<' in balance
    assert "150000" not in balance
    assert "alice@example.com" in html.lower()


def test_every_section_shows_their_rows_and_links_to_the_filtered_list(root, alice, program):
    html = _page(root, alice)
    rewards = _section(html, "rewards")
    assert "(3)" in rewards and "1,500.00 INR" in rewards and "7.50 INR" in rewards
    assert _section(html, "referrer").count(">zoe</a>") == 1
    downline = _section(html, "downline")
    assert ">bob</a>" in downline and ">carol</a>" in downline and "(2)" in downline
    links = _section(html, "links")
    assert f"/r/{alice.referral_code}/spring" in links
    assert re.search(r"spring</code></td><td>[^<]*</td><td>3</td><td>2</td><td>0</td>", links)
    assert re.search(rf"{alice.referral_code}</code></td><td>[^<]*</td><td>1</td>", links)
    assert "order-1" in _section(html, "events")
    assert "1,500.00 INR" in _section(html, "payouts")
    audit = _section(html, "audit")
    assert "reward.confirmed" in audit and "referral.created" in audit

    # Each "more" link opens a list of this participant's rows only (never Django's "?e=1").
    expected = {
        "balance": Reward.objects.filter(beneficiary="alice").count(),
        "rewards": 3,
        "downline": 2,
        "events": 2,  # the purchase, and the referral that brought her in
        "payouts": 1,
        "audit": len([e for e in AuditEntry.objects.filter(program=program) if _about_alice(e)]),
        "links": 2,  # the daily roll-ups: one row for the code link, one for "spring"
    }
    for key, count in expected.items():
        url = _more_link(_section(html, key))
        r = root.get(url)
        assert r.status_code == 200, (key, url)
        assert "e=1" not in r.request["QUERY_STRING"], (key, url)
        assert r.context["cl"].result_count == count, (key, url)


def test_audit_filter_keeps_other_participants_out(root, alice, program):
    url = _more_link(_section(_page(root, alice), "audit"))
    r = root.get(url)
    entries = list(r.context["cl"].result_list)
    assert entries
    for entry in entries:
        about = {entry.object_id} | {
            (entry.after or {}).get(k) for k in ("beneficiary", "user", "referrer", "referred")
        }
        assert "alice" in about
    # bob's own creation (a referral made him) is not alice's.
    assert not any(e.object_type == "participant" and e.object_id == "bob" for e in entries)


def test_search_finds_a_participant_by_external_id_or_email(root, alice):
    url = reverse("admin:rules_participant_changelist")
    for q in ("alice", "alice@example.com", "ALICE@EXAMPLE.COM"):
        r = root.get(url, {"q": q})
        assert [p.external_id for p in r.context["cl"].result_list] == ["alice"], q
    page = root.get(url, {"q": "alice@example.com"}).content.decode()
    assert reverse("admin:rules_participant_change", args=[alice.pk]) in page
    assert "Alice@Example.com" in page  # the email column


def test_no_view_on_site_and_view_site_leads_to_the_api_docs(root, alice):
    html = _page(root, alice)
    assert "viewsitelink" not in html  # no per-object "View on site"
    assert "historylink" not in html  # admin-form edits: participants never get any
    index = root.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("swagger-ui")}"' in index


def test_an_operator_sees_the_page_without_sections_they_may_not_open(ops, alice):
    r = ops.get(reverse("admin:rules_participant_change", args=[alice.pk]))
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="participant-referrer"' in html


def test_the_page_is_refused_to_staff_without_the_permission(staff, alice):
    nobody = staff("nobody")
    r = nobody.get(reverse("admin:rules_participant_change", args=[alice.pk]))
    assert r.status_code == 403


# --- the audit log as a change list -----------------------------------------------------------


def test_audit_list_shows_only_what_changed_in_major_units(root, alice, program):
    r = root.get(reverse("admin:ledger_auditentry_changelist"), {"participant": "alice"})
    html = r.content.decode()
    rows = {
        e.pk: e
        for e in r.context["cl"].result_list
        if e.action in ("reward.confirmed", "reward.created")
    }
    assert rows
    confirmed = AuditEntry.objects.filter(action="reward.confirmed", after__amount=150000).get()
    row = html.split(f'value="{confirmed.pk}"')[1].split("</tr>")[0]
    assert "status</span> pending → confirmed" in row
    assert "beneficiary</span>" not in row  # context, not a change
    assert "alice" in row  # who it is about, beside the object
    created = AuditEntry.objects.filter(action="reward.created", after__amount=750).get()
    row = html.split(f'value="{created.pk}"')[1].split("</tr>")[0]
    assert "7.50 INR" in row and ">750<" not in row


def test_audit_search_by_participant_external_id(root, alice):
    r = root.get(reverse("admin:ledger_auditentry_changelist"), {"q": "carol"})
    entries = list(r.context["cl"].result_list)
    assert entries
    keys = ("beneficiary", "user", "referrer", "referred")
    assert all(
        "carol" in {e.object_id, *((e.after or {}).get(k) for k in keys)}
        or "carol" in e.actor
        or "carol" in e.reason
        for e in entries
    )


def test_audit_list_of_a_snapshot_shows_added_fields(root, program):
    participant_upsert(program=program, external_id="dan", attributes={"plan": "a"}, actor="t")
    participant_upsert(
        program=program, external_id="dan", attributes={"email": "d@example.com"}, actor="t"
    )
    entry = AuditEntry.objects.filter(
        action="participant.attributes_merged", object_id="dan"
    ).latest("pk")
    html = root.get(reverse("admin:ledger_auditentry_changelist")).content.decode()
    row = html.split(f'value="{entry.pk}"')[1].split("</tr>")[0]
    assert "email</span> — → d@example.com" in row
    assert "plan</span>" not in row


# --- success messages say what happened -------------------------------------------------------


def test_reverse_names_the_reward_its_beneficiary_and_amount(root, program, confirmed_reward):
    reward = confirmed_reward("alice", 5000)
    r = root.post(
        reverse("admin:ledger_reward_changelist"),
        {
            "action": "reverse",
            ACTION_CHECKBOX_NAME: [str(reward.pk)],
            "confirmed": "yes",
            "reason": "duplicate order",
        },
    )
    assert _messages(r) == f"Reversed reward {reward.pk} for alice: 50.00 INR."


def test_many_rewards_are_summed_up_in_one_message(root, program, confirmed_reward):
    rewards = [confirmed_reward(f"p{i}", 100) for i in range(12)]
    r = root.post(
        reverse("admin:ledger_reward_changelist"),
        {
            "action": "reverse",
            ACTION_CHECKBOX_NAME: [str(x.pk) for x in rewards],
            "confirmed": "yes",
            "reason": "test",
        },
    )
    assert _messages(r) == "Reversed 12 rewards: 12.00 INR in all."


def test_revoke_names_the_key(root, program):
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.get(username="root")
    key, _ = api_key_create(program=program, owner=owner, name="checkout", created_by=owner)
    r = root.post(
        reverse("admin:ledger_apikey_changelist"),
        {
            "action": "revoke",
            ACTION_CHECKBOX_NAME: [str(key.pk)],
            "confirmed": "yes",
            "reason": "leaked",
        },
    )
    assert _messages(r) == f"Revoked API key {key.prefix}… (checkout) of acme."


def test_confirm_names_the_reward(root, program):
    reward, _ = reward_create(
        program=program,
        beneficiary="erin",
        amount=123456,
        currency="INR",
        reward_type="cash",
        source_key="confirm:erin",
        actor="test",
    )
    r = root.post(
        reverse("admin:ledger_reward_changelist"),
        {"action": "confirm", ACTION_CHECKBOX_NAME: [str(reward.pk)], "confirmed": "yes"},
    )
    assert _messages(r) == f"Confirmed reward {reward.pk} for erin: 1,234.56 INR."


def test_a_program_change_says_what_changed_in_major_units(root, program):
    url = reverse("admin:ledger_program_change", args=[program.pk])
    data = {
        "name": program.name,
        "direct_rate_bps": program.direct_rate_bps,
        "override_rate_bps": program.override_rate_bps,
        "hold_days": 14,
        "min_payout": "100",
        "fraud_amount_threshold": "",
    }
    r = root.post(url, data, follow=True)
    assert [str(m) for m in r.context["messages"]] == [
        "Changed program acme: Auto-confirm after (days) 0 → 14; "
        "Minimum payout 0.00 INR → 100.00 INR."
    ]
    r = root.post(url, data, follow=True)
    assert [str(m) for m in r.context["messages"]] == ["Program acme: nothing changed."]


def test_payout_and_reconciliation_messages_name_the_batch_and_run(root, program):
    r = root.post(reverse("admin:ledger_reconciliationrun_run"), {"program": program.pk})
    assert re.fullmatch(r"Reconciliation run \d+ of acme: clean \(0 findings\)\.", _messages(r))


def test_the_dashboards_top_referrers_are_who_referred_someone(root, program):
    referral_create(program=program, referrer="ann", referred="a1", actor="t")
    referral_create(program=program, referrer="ann", referred="a2", actor="t")
    referral_create(program=program, referrer="ben", referred="b1", actor="t")
    # A reward to someone who referred nobody does not make a referrer.
    reward_create(
        program=program,
        beneficiary="a1",
        amount=999999,
        currency="INR",
        reward_type="cash",
        source_key="top:a1",
        actor="t",
    )
    page = root.get(reverse("admin:index"))
    data = page.context["dashboard"]["data"]["top_referrers"]
    assert [(t["referrer"], t["referrals"]) for t in data] == [("ann", 2), ("ben", 1)]
