"""Test settings: the base settings with a fixed key and fast hashing. The database still comes
from DATABASE_URL, so the same suite runs on PostgreSQL and on SQLite."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-not-secret")
# Tests run with DEBUG off, so they need a field-encryption key (config/platform/crypto.py).
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWZpZWxkLWtleS1ub3Qtc2VjcmV0ISE=")

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# The test client speaks plain HTTP (tests/production/test_deploy_check.py checks the real ones).
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "100000/min"}}
# Tests run scheduled work by calling it; config/inline_scheduler.py has its own tests.
INLINE_SCHEDULER = False

# Two test runs on one machine never share a test database: the name carries the run's process
# id (inherited through TEST_RUN_ID by the servers and workers a test starts).
RUN_ID = os.environ.setdefault("TEST_RUN_ID", str(os.getpid()))
_db = DATABASES["default"]  # noqa: F405
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not Django's default shared in-memory test database: the live server, webhook
    # delivery threads and Celery test workers then wait on SQLite's lock (WAL + busy timeout,
    # as in a real deployment) instead of failing with "database table is locked".
    _db["TEST"] = {"NAME": f"{_db['NAME']}-test-{RUN_ID}"}
else:
    _db["TEST"] = {"NAME": f"test_{_db['NAME']}_{RUN_ID}"}
