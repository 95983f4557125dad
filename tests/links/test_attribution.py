"""Attribution by click id and coupon (SPEC section 11): POST P/events and POST P/referrals,
every status, the guards, and coupon codes (API and admin)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rules.links.models import Click, Coupon
from rules.models import Event, Referral
from rules.rewards.services.program_settings import program_update
from rules.services.participants import participant_get_or_create
from rules.services.referrals import referral_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def refer(shop):
    def do(referrer: str, referred: str) -> Referral:
        return referral_create(program=shop, referrer=referrer, referred=referred, actor="t")

    return do


def click(program, participant, *, days_ago: float = 0, visitor: str = "v1") -> Click:
    return Click.objects.create(
        program=program,
        participant=participant,
        visitor_hash=visitor,
        at=timezone.now() - timedelta(days=days_ago),
    )


def person(program, external_id: str):
    return participant_get_or_create(program=program, external_id=external_id, actor="t")[0]


def send(api, url, **body):
    body = {"id": "e-1", "type": "signup", "user": "bob", **body}
    return api.post(url("events"), body, format="json")


def test_event_with_click_is_attributed(api, url, shop, alice):
    c = click(shop, alice)
    r = send(api, url, click_id=str(c.id))
    assert r.status_code == 202, r.json()
    att = r.json()["attribution"]
    assert att["status"] == "attributed"
    assert att["referrer"] == "alice"
    assert att["click_id"] == str(c.id)
    referral = Referral.objects.get(referred__external_id="bob")
    assert referral.referrer_id == alice.pk
    # The rules see it: the internal referral_created event is stored too.
    assert Event.objects.filter(event_id="referral_created:bob").exists()
    # The stored event answers the same.
    got = api.get(url("events/e-1")).json()
    assert got["attribution"]["status"] == "attributed"
    # A repeat is the stored event (same body), another body 422.
    assert send(api, url, click_id=str(c.id)).status_code == 200
    assert send(api, url).status_code == 422


def test_expired_click(api, url, shop, alice):
    c = click(shop, alice, days_ago=31)  # the window is 30 days
    r = send(api, url, click_id=str(c.id))
    assert r.status_code == 202
    att = r.json()["attribution"]
    assert att["status"] == "expired" and "30-day" in att["reason"]
    assert not Referral.objects.exists()


def test_expiry_counts_from_occurred_at(api, url, shop, alice):
    c = click(shop, alice, days_ago=31)
    occurred = (timezone.now() - timedelta(days=5)).isoformat()
    r = send(api, url, click_id=str(c.id), occurred_at=occurred)
    assert r.json()["attribution"]["status"] == "attributed"


@pytest.mark.parametrize("value", ["not-a-uuid", "0190c3f4-0000-7000-8000-000000000000"])
def test_unknown_click(api, url, shop, alice, value):
    r = send(api, url, click_id=value)
    assert r.status_code == 202
    att = r.json()["attribution"]
    assert att["status"] == "unknown" and att["reason"]
    assert not Referral.objects.exists()


def test_click_of_another_program_is_unknown(api, url, shop, alice):
    from rules.rewards.services.programs import program_create

    other, _ = program_create(slug="other", name="Other", currency="INR")
    carol = person(other, "carol")
    c = click(other, carol)
    assert send(api, url, click_id=str(c.id)).json()["attribution"]["status"] == "unknown"


def test_own_click_is_self(api, url, shop, alice):
    c = click(shop, alice)
    r = send(api, url, user="alice", click_id=str(c.id))
    assert r.status_code == 202
    assert r.json()["attribution"]["status"] == "self"
    assert not Referral.objects.exists()


def test_already_referred(api, url, shop, alice, refer):
    refer("carol", "bob")
    c = click(shop, alice)
    att = send(api, url, click_id=str(c.id)).json()["attribution"]
    assert att["status"] == "already_referred" and "carol" in att["reason"]
    assert Referral.objects.get(referred__external_id="bob").referrer.external_id == "carol"


def test_cycle_is_not_attributed(api, url, shop, alice, refer):
    refer("bob", "alice")  # bob referred alice: alice cannot refer bob
    c = click(shop, alice)
    att = send(api, url, click_id=str(c.id)).json()["attribution"]
    assert att["status"] == "cycle" and att["reason"]
    assert Referral.objects.count() == 1


def test_event_without_attribution_has_none(api, url, shop, alice):
    assert send(api, url).json()["attribution"] is None


def test_click_and_coupon_together_is_400(api, url, shop, alice):
    c = click(shop, alice)
    assert send(api, url, click_id=str(c.id), coupon=alice.referral_code).status_code == 400


def test_first_and_last_click(api, url, shop, alice):
    carol = person(shop, "carol")
    first = click(shop, carol, days_ago=10)
    click(shop, alice, days_ago=8, visitor="someone else")
    latest = click(shop, alice, days_ago=1)
    # last_click (the default): the click presented, the cookie's latest.
    att = send(api, url, click_id=str(latest.id)).json()["attribution"]
    assert (att["status"], att["referrer"], att["model"] if "model" in att else None) == (
        "attributed",
        "alice",
        None,
    )
    program_update(program=shop, changes={"attribution_model": "first_click"}, actor="t")
    att = send(api, url, id="e-2", user="dave", click_id=str(latest.id)).json()["attribution"]
    assert (att["referrer"], att["click_id"]) == ("carol", str(first.id))


def test_first_click_ignores_clicks_outside_the_window(api, url, shop, alice):
    program_update(program=shop, changes={"attribution_model": "first_click"}, actor="t")
    carol = person(shop, "carol")
    click(shop, carol, days_ago=40)
    latest = click(shop, alice, days_ago=1)
    assert send(api, url, click_id=str(latest.id)).json()["attribution"]["referrer"] == "alice"


def test_coupon_referral_code_and_assigned_coupon(api, url, shop, alice):
    r = send(api, url, coupon=alice.referral_code.lower())
    assert r.json()["attribution"] == {
        "status": "attributed",
        "reason": "coupon",
        "referrer": "alice",
        "coupon": alice.referral_code.lower(),
    }
    assert (
        api.post(
            url("participants/alice/coupons"), {"code": "Summer-10"}, format="json"
        ).status_code
        == 201
    )
    att = send(api, url, id="e-2", user="dave", coupon="summer-10").json()["attribution"]
    assert (att["status"], att["referrer"]) == ("attributed", "alice")
    assert (
        send(api, url, id="e-3", user="alice", coupon="SUMMER-10").json()["attribution"]["status"]
        == "self"
    )
    assert (
        send(api, url, id="e-4", user="erin", coupon="nope").json()["attribution"]["status"]
        == "unknown"
    )


def test_coupon_api(api, url, shop, alice):
    r = api.post(url("participants/alice/coupons"), {"code": " spring_5 "}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["code"] == "SPRING_5"
    person(shop, "carol")
    # Unique per program whatever the case, referral codes included.
    again = api.post(url("participants/carol/coupons"), {"code": "Spring_5"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "already_exists"
    code = api.post(url("participants/carol/coupons"), {"code": alice.referral_code}, format="json")
    assert code.status_code == 409
    bad = api.post(url("participants/alice/coupons"), {"code": "no spaces"}, format="json")
    assert bad.status_code == 400
    listed = api.get(url("participants/alice/coupons")).json()
    assert [c["code"] for c in listed["results"]] == ["SPRING_5"]
    assert api.get(url("participants/nobody/coupons")).status_code == 404


# --- POST P/referrals ----------------------------------------------------------------------


def test_referral_by_click_and_coupon(api, url, shop, alice):
    c = click(shop, alice)
    r = api.post(url("referrals"), {"click_id": str(c.id), "referred": "bob"}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["referrer"] == "alice"
    r = api.post(
        url("referrals"), {"coupon": alice.referral_code.lower(), "referred": "dave"}, format="json"
    )
    assert r.status_code == 201, r.json()
    assert r.json()["referrer"] == "alice"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"click_id": "own", "referred": "alice"}, 400, "self_referral"),
        ({"coupon": "own", "referred": "alice"}, 400, "self_referral"),
        ({"click_id": "old", "referred": "bob"}, 400, "validation_error"),
        ({"click_id": "f" * 8, "referred": "bob"}, 400, "validation_error"),
        ({"coupon": "nope", "referred": "bob"}, 400, "validation_error"),
        ({"click_id": "own", "coupon": "own", "referred": "bob"}, 400, "validation_error"),
        ({"click_id": "own", "referred": "carol"}, 409, "already_referred"),
        ({"click_id": "own", "referred": "zed"}, 400, "referral_cycle"),
    ],
)
def test_referral_guards(api, url, shop, alice, refer, body, status, code):
    refer("dave", "carol")
    refer("zed", "alice")  # zed referred alice: alice cannot refer zed
    fresh, old = click(shop, alice), click(shop, alice, days_ago=45)
    names = {"own": str(fresh.id), "old": str(old.id)}
    if body.get("click_id") in names:
        body["click_id"] = names[body["click_id"]]
    if body.get("coupon") == "own":
        body["coupon"] = alice.referral_code
    r = api.post(url("referrals"), body, format="json")
    assert r.status_code == status, r.json()
    assert r.json()["code"] == code
    assert Referral.objects.count() == 2


def test_admin_assigns_a_coupon(admin_client, shop, alice):
    r = admin_client.post("/admin/rules/coupon/add/", {"participant": alice.pk, "code": "fall-20"})
    assert r.status_code == 302, r.content[:2000]
    coupon = Coupon.objects.get()
    assert (coupon.code, coupon.participant_id, coupon.program_id) == ("FALL-20", alice.pk, shop.pk)
    page = admin_client.get(f"/admin/rules/participant/{alice.pk}/change/")
    assert page.status_code == 200
    assert b"FALL-20" in page.content
    taken = admin_client.post(
        "/admin/rules/coupon/add/", {"participant": alice.pk, "code": "Fall-20"}
    )
    assert taken.status_code == 200 and b"already used" in taken.content
