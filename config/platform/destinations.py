"""Where a program may send a visitor: URLs on its allowed domains, https outside DEBUG.

A referral link redirects to a URL that operators and partners typed, so every redirect target
is checked here, at the moment it is stored and again when it is used: an open redirect on the
program's own short links would lend its name to phishing. A host is compared after the same
normalisation a browser applies (lower case, one trailing dot dropped, IDNA/UTS #46 to
punycode), so a look-alike (``xn--pple-43d.com``, a Cyrillic a) is a different host, and anything a browser
might read differently from Python (backslashes, control characters, userinfo, IPv6 literals,
percent-encoded hosts) is refused rather than interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

import idna

MAX_URL_LENGTH = 2000
# Control characters, space, DEL and the backslash browsers read as a slash.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"\A(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\Z")
DEFAULT_PORTS = {"https": "443", "http": "80"}


def domain_normalized(raw: object) -> str | None:
    """The host as a browser resolves it: ASCII lower case, punycode, no trailing dot; None for
    anything that is not a plain host name (ports, paths, wildcards, userinfo, bad IDNA)."""
    if not isinstance(raw, str) or not raw or _UNSAFE.search(raw):
        return None
    host = raw[:-1] if raw.endswith(".") else raw
    try:
        encoded = idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    encoded = encoded.lower()
    return encoded if _HOST.match(encoded) else None


def host_allowed(host: str, allowed_domains: Iterable[str]) -> bool:
    """Exact match or a subdomain (``shop.example.com`` is on ``example.com``); never a suffix
    of another name (``badexample.com``) or a prefix (``example.com.evil``)."""
    return any(host == domain or host.endswith("." + domain) for domain in allowed_domains)


def _split(url: object, *, https_only: bool) -> tuple[SplitResult, str, str] | None:
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or (https_only and scheme != "https"):
        return None
    netloc = parts.netloc
    if not netloc or "@" in netloc or "[" in netloc or "]" in netloc:
        return None
    raw_host, colon, port = netloc.partition(":")
    if colon:
        if not port.isascii() or not port.isdigit() or ":" in port:
            return None
        # Outside DEBUG only the scheme's own port: a port is another service on the host.
        if https_only and port.lstrip("0") != DEFAULT_PORTS[scheme]:
            return None
    host = domain_normalized(raw_host)
    if host is None:
        return None
    return (
        parts,
        scheme,
        host + (f":{port}" if colon and port.lstrip("0") != DEFAULT_PORTS[scheme] else ""),
    )


def destination_normalized(
    url: object, allowed_domains: Iterable[str], *, https_only: bool
) -> str | None:
    """The URL rebuilt around its normalised host when that host is on ``allowed_domains``
    (already normalised with domain_normalized); None for every other string."""
    split = _split(url, https_only=https_only)
    if split is None:
        return None
    parts, scheme, netloc = split
    host = netloc.partition(":")[0]
    if not host_allowed(host, allowed_domains):
        return None
    return parts._replace(scheme=scheme, netloc=netloc).geturl()


def url_problem(url: object, *, https_only: bool) -> str | None:
    """Why ``url`` cannot be a redirect target on any domain (None: it can)."""
    if _split(url, https_only=https_only) is None:
        scheme = "https" if https_only else "http(s)"
        return f"must be an absolute {scheme} URL with a plain host name (no user, port or control characters)"
    return None
