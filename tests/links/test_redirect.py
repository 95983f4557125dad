"""GET /r/{code} and /r/{code}/{slug} (SPEC section 11): the 302, the cookie, the plain 404s,
what a click stores (and never: the raw IP), bot flagging."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from config.platform.models import AuditEntry
from rules.links.models import Click, ReferralLink
from rules.links.services.clicks import visitor_hash
from rules.links.services.links import referral_link_create

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def visit(client, path, ua=BROWSER, **extra):
    return client.get(path, HTTP_USER_AGENT=ua, REMOTE_ADDR="203.0.113.7", **extra)


def test_code_redirects_to_landing_with_ref_and_click_id(client, alice):
    r = visit(client, f"/r/{alice.referral_code}", HTTP_REFERER="https://blog.example.org/post")
    assert r.status_code == 302
    location = urlsplit(r["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.example.com",
        "/welcome",
    )
    query = parse_qs(location.query)
    click = Click.objects.get()
    assert query == {"lang": ["en"], "ref": [alice.referral_code], "click_id": [str(click.id)]}
    assert (
        click.participant == alice and click.link is None and click.program_id == alice.program_id
    )
    assert click.referrer_host == "blog.example.org" and click.is_bot is False
    assert r["Cache-Control"] == "no-store"


def test_cookie(client, alice):
    r = visit(client, f"/r/{alice.referral_code}")
    cookie = r.cookies["rl_click"]
    assert cookie.value == str(Click.objects.get().id)
    assert cookie["max-age"] == 30 * 86400
    assert cookie["samesite"] == "Lax" and cookie["httponly"] is True
    assert cookie["secure"] is True  # not DEBUG
    with override_settings(DEBUG=True):
        r = visit(client, f"/r/{alice.referral_code}")
    assert not r.cookies["rl_click"]["secure"]


def test_code_and_slug_case_do_not_matter(client, alice):
    assert visit(client, f"/r/{alice.referral_code.lower()}").status_code == 302
    referral_link_create(participant=alice, slug="sale", actor="test")
    assert visit(client, f"/r/{alice.referral_code.lower()}/SALE").status_code == 302


def test_named_link_goes_to_its_destination_keeping_its_query(client, alice):
    referral_link_create(
        participant=alice,
        slug="spring-sale",
        destination="https://example.com/sale?utm_source=news&ref=old&click_id=x&a=1",
        actor="test",
    )
    r = visit(client, f"/r/{alice.referral_code}/spring-sale?utm_medium=social&utm_source=tw")
    assert r.status_code == 302
    location = urlsplit(r["Location"])
    assert location.netloc == "example.com" and location.path == "/sale"
    click = Click.objects.get()
    assert parse_qs(location.query) == {
        "a": ["1"],
        "utm_source": ["tw"],  # the visit's UTM parameters win and are carried over
        "utm_medium": ["social"],
        "ref": [alice.referral_code],
        "click_id": [str(click.id)],
    }
    assert click.link is not None and click.link.slug == "spring-sale"
    assert click.utm == {"source": "tw", "medium": "social"}


def test_link_without_destination_uses_landing(client, alice):
    referral_link_create(participant=alice, slug="plain", actor="test")
    r = visit(client, f"/r/{alice.referral_code}/plain")
    assert r["Location"].startswith("https://shop.example.com/welcome?lang=en&ref=")


def test_destination_off_the_domains_now_falls_back_to_landing(client, alice, shop):
    link = referral_link_create(
        participant=alice, slug="old", destination="https://example.com/x", actor="test"
    )
    ReferralLink.objects.filter(pk=link.pk).update(destination="https://evil.com/x")
    r = visit(client, f"/r/{alice.referral_code}/old")
    assert urlsplit(r["Location"]).netloc == "shop.example.com"


@pytest.mark.parametrize("path", ["/r/NOSUCHCODE", "/r/{code}/no-such-link", "/r/{code}/x/y"])
def test_unknown_code_or_slug_is_a_plain_404_and_records_nothing(client, alice, path):
    audit = AuditEntry.objects.count()
    r = visit(client, path.format(code=alice.referral_code))
    assert r.status_code == 404
    assert r["Content-Type"].startswith("text/html")  # a page for a person, not problem+json
    assert b"Not Found" in r.content or b"Link not found" in r.content
    assert "rl_click" not in r.cookies
    assert Click.objects.count() == 0 and AuditEntry.objects.count() == audit


def test_another_participants_slug_is_404(client, alice, shop):
    from rules.services.participants import participant_get_or_create

    bob = participant_get_or_create(program=shop, external_id="bob", actor="t")[0]
    referral_link_create(participant=bob, slug="bobs", actor="test")
    assert visit(client, f"/r/{alice.referral_code}/bobs").status_code == 404


def test_program_without_landing_url_is_404(client, program):
    from rules.services.participants import participant_get_or_create

    p = participant_get_or_create(program=program, external_id="p", actor="t")[0]
    assert visit(client, f"/r/{p.referral_code}").status_code == 404
    assert not Click.objects.exists()


def test_head_and_post_record_nothing(client, alice):
    assert client.head(f"/r/{alice.referral_code}").status_code == 405
    assert client.post(f"/r/{alice.referral_code}").status_code == 405
    assert not Click.objects.exists()


def test_no_raw_ip_is_stored_anywhere(client, alice):
    visit(client, f"/r/{alice.referral_code}", HTTP_X_FORWARDED_FOR="198.51.100.9")
    click = Click.objects.get()
    row = Click.objects.filter(pk=click.pk).values().get()
    text = repr(row)
    for ip in ("203.0.113.7", "198.51.100.9"):
        assert ip not in text
    assert click.visitor_hash == visitor_hash("203.0.113.7", BROWSER)
    assert len(click.visitor_hash) == 64
    # Not an unkeyed hash of the address either.
    import hashlib

    assert click.visitor_hash != hashlib.sha256(b"203.0.113.7").hexdigest()
    # Nor in any other row the request wrote (a redirect writes the click only).
    assert not AuditEntry.objects.filter(at__gte=click.at).exists()


def test_forwarded_for_is_used_only_when_configured(client, alice):
    with override_settings(CLICK_IP_FROM_FORWARDED_FOR=True):
        visit(client, f"/r/{alice.referral_code}", HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.9")
    assert Click.objects.get().visitor_hash == visitor_hash("198.51.100.9", BROWSER)


@pytest.mark.parametrize(
    ("ua", "bot"),
    [
        (BROWSER, False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15", False),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", True),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", True),
        ("Twitterbot/1.0", True),
        ("curl/8.5.0", True),
        ("python-requests/2.32", True),
        ("Mozilla/5.0 HeadlessChrome/120.0", True),
        ("", True),
    ],
)
def test_bot_flag(client, alice, ua, bot):
    r = visit(client, f"/r/{alice.referral_code}", ua=ua)
    assert r.status_code == 302  # bots are redirected too, and counted apart
    assert Click.objects.get().is_bot is bot
