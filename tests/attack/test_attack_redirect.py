"""Open-redirect bypasses through /r/{code}/{slug} after the links cache (SPEC section 11): a
destination off the allowed domains, however spelled, is refused when stored and, if a row
holds one anyway (an older row, raw SQL, a narrowed domain list), the redirect falls back to
the landing URL."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client, override_settings

from config.platform.exceptions import ValidationFailed
from rules.links.models import ReferralLink
from rules.links.services.links import referral_link_create
from rules.links.target_cache import forget_all
from tests.links.conftest import alice, shop  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

BYPASSES = [
    "//evil.com",
    "///evil.com",
    "\\\\evil.com",
    "https:\\\\evil.com",
    "https:/\\evil.com",
    "https:evil.com",
    "/\\evil.com",
    "https://example.com.evil.com/",
    "https://evil.com/example.com",
    "https://evil.com?.example.com",
    "https://evil.com#.example.com",
    "https://example.com@evil.com/",
    "https://shop.example.com:pw@evil.com/",
    "https://evil.com\\@shop.example.com/",
    "https://evil.com%2f.example.com/",
    "https://evil%2ecom/",
    "https://example.com%40evil.com/",
    "https://ex\u0430mple.com/",  # Cyrillic a
    "https://xn--exmple-4nf.com/",
    "https://example.com\u3002evil.com/",  # ideographic full stop
    "https://shop.example.com\t.evil.com/",
    "https://shop.example.com\n.evil.com/",
    "https://evil.com\x00.example.com/",
    " https://evil.com/",
    "https://evil.com:443@shop.example.com/",
    "https://[::1]/",
    "https://127.0.0.1/",
    "javascript:alert(1)//example.com",
    "data:text/html,<script>alert(1)</script>",
    "http://shop.example.com/",  # not https outside DEBUG
    "https://shop.example.com:8443/",
    "https://badexample.com/",
]


def _location(code: str, slug: str) -> str:
    response = Client().get(f"/r/{code}/{slug}")
    assert response.status_code == 302, response.status_code
    return response["Location"]


@pytest.mark.parametrize("destination", BYPASSES)
def test_a_bypass_is_refused_when_stored(alice, destination):  # noqa: F811
    with pytest.raises(ValidationFailed):
        referral_link_create(participant=alice, slug="x", destination=destination, actor="t")


@override_settings(CLICK_LINK_CACHE_SECONDS=60)
@pytest.mark.parametrize("destination", BYPASSES)
def test_a_stored_bypass_redirects_to_the_landing_url(alice, destination):  # noqa: F811
    from django.db import connection

    if "\x00" in destination and connection.vendor == "postgresql":
        pytest.skip("PostgreSQL stores no NUL: such a row cannot exist")
    link = referral_link_create(
        participant=alice, slug="spring", destination="https://shop.example.com/spring", actor="t"
    )
    code = alice.referral_code
    assert urlsplit(_location(code, "spring")).hostname == "shop.example.com"  # now cached
    ReferralLink.objects.filter(pk=link.pk).update(destination=destination)  # no signal
    forget_all()
    for spelled in ("spring", "SPRING"):
        location = _location(code.lower(), spelled)
        parts = urlsplit(location)
        assert parts.scheme == "https" and parts.hostname == "shop.example.com", location
        assert parts.path == "/welcome", location
        assert "\\" not in location and "evil" not in location.lower()


@override_settings(CLICK_LINK_CACHE_SECONDS=60)
def test_a_narrowed_domain_list_applies_to_cached_links(alice, shop):  # noqa: F811
    from rules.rewards.services.program_settings import program_update

    referral_link_create(
        participant=alice, slug="partner", destination="https://partner.example.com/", actor="t"
    )
    code = alice.referral_code
    assert urlsplit(_location(code, "partner")).hostname == "partner.example.com"
    program_update(
        program=shop,
        changes={
            "allowed_domains": ["shop.example.com"],
            "landing_url": "https://shop.example.com/welcome",
        },
        actor="t",
    )
    assert urlsplit(_location(code, "partner")).hostname == "shop.example.com"


def test_visitor_query_cannot_steer_the_redirect(alice):  # noqa: F811
    code = alice.referral_code
    for query in ("?next=https://evil.com", "?url=//evil.com", "?utm_source=//evil.com"):
        response = Client().get(f"/r/{code}{query}")
        assert response.status_code == 302
        assert urlsplit(response["Location"]).hostname == "shop.example.com"


@pytest.mark.parametrize(
    "path",
    [
        "/r/%00",
        "/r/{code}%00",
        "/r/{code}/%00",
        "/r/{code}/spring%00",
        "/r/%ED%A0%80",
        "/r/%FF",
        "/r/{code}/%C0%AF",
        "/r/" + "A" * 5000,
        "/r/{code}/" + "a" * 5000,
        "/r/{code}/..%2f..%2fadmin",
        "/r/\u0131{code}",
    ],
)
def test_hostile_codes_and_slugs_are_404_never_500(alice, path):  # noqa: F811
    response = Client(raise_request_exception=False).get(path.format(code=alice.referral_code))
    assert response.status_code in (400, 404), (path, response.status_code)


def test_a_destination_cannot_carry_another_partners_ref(alice):  # noqa: F811
    from urllib.parse import parse_qs

    referral_link_create(
        participant=alice,
        slug="steal",
        destination="https://shop.example.com/p?ref=OTHER&click_id=1&REF=X",
        actor="t",
    )
    query = parse_qs(urlsplit(_location(alice.referral_code, "steal")).query)
    assert query["ref"] == [alice.referral_code] and len(query["click_id"]) == 1
