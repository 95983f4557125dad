"""Test settings: the base settings with a fixed key and fast hashing. The database still comes
from DATABASE_URL, so the same suite runs on PostgreSQL and on SQLite."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-not-secret")

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
