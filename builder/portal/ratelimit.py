"""Fixed-window counters in Django's cache: the sign-in and signup forms' rate limits.

Works on any cache backend (the default local-memory one counts per process; Redis, set by
REDIS_CACHE_URL, counts across processes). `cache.add` starts a window only if none is running,
and `incr` is atomic on Redis and under the local-memory cache's lock."""

from __future__ import annotations

import hashlib

from django.core.cache import cache


def _key(scope: str, value: str) -> str:
    # Hashed: an email or IP address is no cache key of its own (length, characters, privacy).
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"portal:rl:{scope}:{digest}"


def allow(scope: str, value: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt for `value` in `scope`; False once more than `limit` attempts were
    made in the current window."""
    key = _key(scope, value)
    if cache.add(key, 1, timeout=window_seconds):
        return limit >= 1
    try:
        count = cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.add(key, 1, timeout=window_seconds)
        count = 1
    return count <= limit
