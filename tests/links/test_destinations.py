"""Open redirects are impossible: only URLs on a program's allowed domains pass
(config/platform/destinations.py). Pure functions, no database."""

from __future__ import annotations

import pytest

from config.platform.destinations import destination_normalized, domain_normalized

ALLOWED = ["allowed.com"]


def dest(url, https_only=True):
    return destination_normalized(url, ALLOWED, https_only=https_only)


@pytest.mark.parametrize(
    "url",
    [
        "//evil.com",
        "//evil.com/allowed.com",
        "\\evil.com",
        "\\\\evil.com",
        "https:\\\\evil.com",
        "https:/\\evil.com",
        "/\\evil.com",
        "https://allowed.evil",
        "https://allowed.com.evil.com",
        "https://evilallowed.com",
        "https://evil/allowed.com",
        "https://evil.com/https://allowed.com",
        "https://evil.com?https://allowed.com",
        "https://evil.com#allowed.com",
        "https://allowed.com@evil.com",
        "https://allowed.com:pw@evil.com",
        "https://user@allowed.com",  # userinfo is refused outright
        "https://evil.com\\@allowed.com",
        "https://\u0430llowed.com",  # a Cyrillic a: a look-alike
        "https://xn--llowed-8nf.com",  # its punycode
        "https://allowed.com\u2044evil.com",  # fraction slash
        "https://allowed.com%2eevil.com",
        "https://allowed.com%00.evil.com",
        "https://EVIL.COM",
        "https://allowed.com:8443/",  # another port is another service
        "https://allowed.com:0443x/",
        "https://[::1]/",
        "http://allowed.com/",  # https only outside DEBUG
        "javascript:alert(1)",
        "JaVaScRiPt://allowed.com/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://allowed.com/",
        "https://allowed.com/\r\nSet-Cookie: x=1",
        "https://allowed.com/\x00",
        "https://allowed.com/\tx",
        " https://allowed.com/",
        "https:allowed.com",
        "https:///allowed.com",
        "allowed.com",
        "/path",
        "",
        None,
        42,
        "https://allowed.com.." + "/",
        "https://" + "a" * 2000 + ".allowed.com/",
    ],
)
def test_bypasses_are_refused(url):
    assert dest(url) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://allowed.com", "https://allowed.com"),
        ("https://allowed.com/x?a=1#f", "https://allowed.com/x?a=1#f"),
        ("https://shop.allowed.com/p", "https://shop.allowed.com/p"),
        ("HTTPS://Allowed.COM/Path", "https://allowed.com/Path"),  # host case only
        ("https://allowed.com./x", "https://allowed.com/x"),  # trailing dot
        ("https://allowed.com:443/x", "https://allowed.com/x"),  # the default port
        ("https://ALLOWED.com:00443/", "https://allowed.com/"),
    ],
)
def test_allowed_urls_come_back_normalised(url, expected):
    assert dest(url) == expected


def test_debug_allows_http_and_ports():
    assert dest("http://allowed.com:8000/x", https_only=False) == "http://allowed.com:8000/x"
    assert dest("http://evil.com:8000/x", https_only=False) is None


def test_international_domains_compare_as_punycode():
    assert domain_normalized("Bücher.example") == "xn--bcher-kva.example"
    assert (
        destination_normalized(
            "https://BÜCHER.example/x", ["xn--bcher-kva.example"], https_only=True
        )
        == "https://xn--bcher-kva.example/x"
    )
    assert (
        destination_normalized(
            "https://xn--bcher-kva.example/", ["bucher.example"], https_only=True
        )
        is None
    )


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "*.example.com",
        "example.com/x",
        "example.com:443",
        "a@b.com",
        "exa mple.com",
        "example..com",
        "-x.com",
        "x" * 64 + ".com",
        "\\example.com",
        "example.com\n",
    ],
)
def test_bad_domains(raw):
    assert domain_normalized(raw) is None
