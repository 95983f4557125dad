"""Recording a click: the redirect's one write (SPEC section 11)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

from django.conf import settings
from django.db import IntegrityError, connections, router
from django.db.models import Field
from django.utils import timezone

from config.platform.db import prepared_cursor
from config.platform.destinations import destination_normalized
from rules.links.bots import is_bot
from rules.links.db import unpinged
from rules.links.models import Click, click_id
from rules.links.selectors import LinkTarget
from rules.links.services.click_buffer import buffer

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Parameters the redirect sets itself: a destination's own values are replaced.
OWN_PARAMS = ("ref", "click_id")
MAX_UTM_LENGTH = 200
MAX_USER_AGENT = 1000


@dataclass(frozen=True)
class Visit:
    """What the redirect knows of the visitor. The address is only hashed, never stored."""

    ip: str
    user_agent: str
    referrer: str
    query: Mapping[str, str]


@functools.cache
def _hash_key(secret: str, fallback: str) -> bytes:
    if secret:
        return secret.encode()
    return hmac.new(fallback.encode(), b"rules.links.visitor_hash", hashlib.sha256).digest()


def visitor_hash(ip: str, user_agent: str) -> str:
    """HMAC-SHA256 of address and user agent under settings.CLICK_HASH_SECRET: the same visitor
    hashes the same (unique clicks), and the address cannot be read back or guessed by hashing
    every IPv4 address without the key."""
    key = _hash_key(settings.CLICK_HASH_SECRET, settings.SECRET_KEY)
    message = f"{ip}\n{user_agent[:MAX_USER_AGENT]}".encode("utf-8", "replace")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _referrer_host(referrer: str) -> str:
    try:
        host = urlsplit(referrer).hostname or ""
    except ValueError:
        return ""
    return host[:255]


@functools.lru_cache(maxsize=4096)
def _normalized(url: str, domains: tuple[str, ...], https_only: bool) -> str | None:
    # Pure (the same inputs, the same answer): checked once per URL and domain list, not on
    # every redirect (IDNA encoding the host was a tenth of the redirect's Python time).
    return destination_normalized(url, domains, https_only=https_only)


@functools.lru_cache(maxsize=4096)
def _destination_parts(url: str) -> tuple[SplitResult, tuple[tuple[str, str], ...]]:
    parts = urlsplit(url)
    return parts, tuple(parse_qsl(parts.query, keep_blank_values=True))


def redirect_destination(target: LinkTarget) -> str | None:
    """The link's own destination while it is on the program's allowed domains, else the
    program's landing URL; None when neither is usable (a program without a landing URL)."""
    program = target.participant.program
    https_only = not settings.DEBUG
    domains = tuple(program.allowed_domains or ())
    if target.link is not None and target.link.destination:
        url = _normalized(target.link.destination, domains, https_only)
        if url is not None:
            return url
    return _normalized(program.landing_url, domains, https_only)


@functools.cache
def _insert_sql(db: str, async_commit: bool) -> tuple[list[Field], str]:
    """`INSERT INTO rules_click (every column) VALUES (...)`, built once per process. On
    PostgreSQL with CLICK_ASYNC_COMMIT the same insert also turns synchronous_commit off for its
    own transaction (set_config(..., true) in the statement: still one round trip), so it does
    not wait for the WAL flush: a click is not money, and a database crash may lose the last
    fraction of a second of clicks, never corrupt anything (docs/OPERATIONS.md, "Clicks").
    Called inside an outer transaction it would apply to that one: the redirect runs in
    autocommit, where the statement is its own transaction."""
    conn = connections[db]
    fields = list(Click._meta.concrete_fields)
    names = ", ".join(conn.ops.quote_name(cast(str, f.column)) for f in fields)
    table = Click._meta.db_table
    if conn.vendor == "postgresql" and async_commit:
        # Parameters in a SELECT list carry no column type: each is cast to its column's.
        values = ", ".join(f"%s::{f.db_type(conn)}" for f in fields)
        return fields, (
            "WITH async AS (SELECT set_config('synchronous_commit', 'off', true))"
            f" INSERT INTO {table} ({names}) SELECT {values} FROM async"
        )
    return fields, f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(fields))})"


@functools.cache
def _column_names(db: str) -> str:
    conn = connections[db]
    return ", ".join(conn.ops.quote_name(cast(str, f.column)) for f in Click._meta.concrete_fields)


def _insert(values: dict[str, Any]) -> None:
    """What `Click.objects.create(**values)` does (the same column values and adapters), as one
    prepared statement: on the redirect the ORM's compiling cost more than the insert, and
    building the model instance a tenth of the redirect's Python time."""
    db = router.db_for_write(Click)
    fields, sql = _insert_sql(db, settings.CLICK_ASYNC_COMMIT)
    conn = connections[db]
    params = [f.get_db_prep_save(values[cast(str, f.attname)], conn) for f in fields]
    seconds = getattr(settings, "CLICK_BUFFER_SECONDS", 0)
    if seconds > 0:  # written by the process's buffer thread within `seconds` (click_buffer.py)
        buffer.add(
            params,
            db=db,
            table=Click._meta.db_table,
            columns=_column_names(db),
            seconds=seconds,
            size=getattr(settings, "CLICK_BUFFER_SIZE", 500),
        )
        return

    def insert() -> None:
        with prepared_cursor(db) as cursor:
            cursor.execute(sql, params)

    def again() -> None:
        # IntegrityError: the first attempt had landed (the same click id), stored once.
        with contextlib.suppress(IntegrityError):
            insert()

    unpinged(db, insert, retry=again)


def click_record(*, target: LinkTarget, visit: Visit) -> tuple[uuid.UUID, str] | None:
    """Store the click (one INSERT, or a place in the buffer) and return its id with the URL to
    redirect to: the destination with its query kept, the visit's UTM parameters carried over,
    and `ref` and `click_id` added. None, and nothing stored, when the program has nowhere to
    send the visitor."""
    destination = redirect_destination(target)
    if destination is None:
        return None
    parts, query = _destination_parts(destination)
    incoming = {key: visit.query[key][:MAX_UTM_LENGTH] for key in UTM_KEYS if visit.query.get(key)}
    params = [(key, value) for key, value in query if key not in OWN_PARAMS and key not in incoming]
    params += list(incoming.items())
    utm = {key[4:]: value[:MAX_UTM_LENGTH] for key, value in params if key in UTM_KEYS}
    participant = target.participant
    new_id = click_id()
    _insert(
        {
            "id": new_id,
            "at": timezone.now(),
            "program_id": participant.program_id,
            "participant_id": participant.pk,
            "link_id": None if target.link is None else target.link.pk,
            "visitor_hash": visitor_hash(visit.ip, visit.user_agent),
            "referrer_host": _referrer_host(visit.referrer),
            "utm": utm,
            "is_bot": is_bot(visit.user_agent),
        }
    )
    params += [("ref", participant.referral_code), ("click_id", str(new_id))]
    return new_id, parts._replace(query=urlencode(params)).geturl()
