"""One settings module for every environment, switched by environment variables (SPEC §9)."""

from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from config.env import BASE_DIR, env
from config.logging import logging_config

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Secrets have no production default: a random development key exists only in DEBUG.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is false "
            "(set DJANGO_DEBUG=true for local development)."
        )
    from django.core.management.utils import get_random_secret_key

    SECRET_KEY = get_random_secret_key()

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config.platform",
    "ledger",
    "rules",
    "rules.billing",
    "rules.tiers",
    "builder",
    "builder.portal",
]

MIDDLEWARE = [
    "config.platform.context.RequestIdMiddleware",
    # Requests and latency by route pattern for GET /metrics (config/platform/metrics.py).
    "config.platform.metrics.MetricsMiddleware",
    # NUL in a path or query, a UTC offset PostgreSQL refuses, a body over the limit: refused
    # before any view or query runs (config/platform/api/guard.py).
    "config.platform.api.guard.InputGuardMiddleware",
    # Without a broker: runs the periodic work in server processes (config/inline_scheduler.py).
    "config.inline_scheduler.InlineSchedulerMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",  # {% csp_nonce_attr %}
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the dev server, the inline worker and commands share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# Behind PgBouncer in transaction mode (DB_POOLER=pgbouncer, docs/OPERATIONS.md) consecutive
# transactions of one connection may run on different server sessions, so nothing may live in
# the session: no server-side cursors (WITH HOLD cursors outlive a transaction), no prepared
# statements (LEDGER_PREPARED_STATEMENTS below) and scheduler leases held per transaction
# (config/inline_scheduler.py).
DB_POOLER = env.str("DB_POOLER", default="")
if DB_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"DB_POOLER must be unset or 'pgbouncer', not {DB_POOLER!r}")
if DB_POOLER and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# A streaming replica (SPEC §15): reads that tolerate lag go there when they ask for it
# (config/db_router.py); every write and every read that decides one stays on the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    for _key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "DISABLE_SERVER_SIDE_CURSORS"):
        if _key in DATABASES["default"]:
            DATABASES["replica"].setdefault(_key, DATABASES["default"][_key])
    # Tests see the primary's test database through it (no second copy to migrate).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["config.db_router.PrimaryReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS: list[Path | tuple[str, Path]] = [BASE_DIR / "static"]
# Third-party front-end packages come from npm (package.json); `make setup` installs them into
# node_modules, and staticfiles serves the few files the pages load from there.
NODE_MODULES_DIR = BASE_DIR / "node_modules"
if NODE_MODULES_DIR.is_dir():
    STATICFILES_DIRS.append(("npm", NODE_MODULES_DIR))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "admin:login"

# The partner portal's sign-in links (SPEC section 12, builder/portal/models.py): django-sesame
# tokens, single use (they hash the user's last_login, which signing in updates) and expiring.
SESAME_MAX_AGE = env.int("PORTAL_SIGNIN_LINK_SECONDS", default=15 * 60)
SESAME_ONE_TIME = True
# Passwords for staff (the admin); sesame's backend only answers a `sesame` token.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "sesame.backends.ModelBackend",
]
# Sign-in and signup requests per email and per client address in a window (Django's cache).
PORTAL_RATE_WINDOW_SECONDS = env.int("PORTAL_RATE_WINDOW_SECONDS", default=15 * 60)
PORTAL_RATE_PER_EMAIL = env.int("PORTAL_RATE_PER_EMAIL", default=5)
PORTAL_RATE_PER_IP = env.int("PORTAL_RATE_PER_IP", default=30)
# Secrets at rest (config/platform/crypto.py): comma-separated Fernet keys, newest first. Required
# outside DEBUG; DEBUG (the demo, the tests) derives one from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS is required when DJANGO_DEBUG is false: generate one with "
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
    )
# Payout rails (SPEC section 13, docs/PAYOUT_RAILS.md): the platform's PayPal REST app and Stripe
# secret key. Unset, the `paypal` / `stripe_connect` rails refuse to send (nothing is paid). The
# base URLs point the official SDKs elsewhere (the tests' local stubs); empty means the provider.
PAYPAL_CLIENT_ID = env.str("PAYPAL_CLIENT_ID", default="")
PAYPAL_CLIENT_SECRET = env.str("PAYPAL_CLIENT_SECRET", default="")
PAYPAL_ENVIRONMENT = env.str("PAYPAL_ENVIRONMENT", default="sandbox")
PAYPAL_BASE_URL = env.str("PAYPAL_BASE_URL", default="")
PAYPAL_UNCLAIMED_DAYS = env.int("PAYPAL_UNCLAIMED_DAYS", default=30)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Referral Ledger <noreply@localhost>")
# Email through Django 6.1's MAILERS (docs/PORTAL.md "Emails"). The environment keeps the
# familiar names: EMAIL_BACKEND (default SMTP; the console in DEBUG), EMAIL_HOST, EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL, EMAIL_TIMEOUT (seconds).
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
_email_backend = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend" if DEBUG else SMTP_BACKEND,
)
# A stuck mail server is a failed attempt after this long (and the outbox's lease outlasts it).
MAIL_TIMEOUT_SECONDS = env.int("EMAIL_TIMEOUT", default=10)
MAILERS = {
    "default": {
        "BACKEND": _email_backend,
        "OPTIONS": {
            "host": env.str("EMAIL_HOST", default="localhost"),
            "port": env.int("EMAIL_PORT", default=25),
            "username": env.str("EMAIL_HOST_USER", default=""),
            "password": env.str("EMAIL_HOST_PASSWORD", default=""),
            "use_tls": env.bool("EMAIL_USE_TLS", default=False),
            "use_ssl": env.bool("EMAIL_USE_SSL", default=False),
            "timeout": MAIL_TIMEOUT_SECONDS,
        }
        if _email_backend == SMTP_BACKEND
        else {},
    }
}
# The portal's notification emails: links in them start here (e.g. https://ref.example.com;
# empty: the emails name the pages without links; DEBUG: `make run`'s server), and a refused
# email is retried with backoff.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000" if DEBUG else "")
PORTAL_EMAIL_RETRY_BASE_SECONDS = env.int("PORTAL_EMAIL_RETRY_BASE_SECONDS", default=60)
PORTAL_EMAIL_RETRY_MAX_DELAY_SECONDS = env.int(
    "PORTAL_EMAIL_RETRY_MAX_DELAY_SECONDS", default=6 * 3600
)
PORTAL_EMAIL_MAX_ATTEMPTS = env.int("PORTAL_EMAIL_MAX_ATTEMPTS", default=12)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.platform.api.auth.ApiKeyAuthentication",
        "config.platform.api.auth.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["config.platform.api.auth.IsProgramMember"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.platform.api.parsers.GuardedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "config.platform.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.platform.api.errors.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["config.platform.api.auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("API_RATE_LIMIT", default="6000/min")},
    "DEFAULT_SCHEMA_CLASS": "config.platform.api.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

# The documented limit of a request body (413 `payload_too_large` above it under /api/); Django's
# own limit for form bodies (the admin) is the same.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

SPECTACULAR_SETTINGS = {
    "TITLE": "Referral Ledger API",
    "DESCRIPTION": (
        "Referral programs on an immutable double-entry ledger. Money is in integer minor units "
        "with an ISO 4217 currency. Errors are application/problem+json with a stable `code`. "
        "Endpoints marked [idem] require an `Idempotency-Key` header; a replay returns the "
        "stored response with `Idempotent-Replayed: true`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SECURITY": [{"ApiKey": []}],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.platform.api.schema.problem_responses_hook",
    ],
    # Choice sets that share a field name get stable component names (no hashed suffixes).
    "ENUM_NAME_OVERRIDES": {
        "AccountKindEnum": "ledger.models.Account.Kind",
        "TransactionKindEnum": "ledger.models.Transaction.Kind",
        "TransactionStatusEnum": ["pending", "posted", "voided"],
        "RewardStatusEnum": "rules.rewards.models.Reward.Status",
        "PayoutBatchStatusEnum": "rules.rewards.models.PayoutBatch.Status",
    },
    "APPEND_COMPONENTS": {
        "securitySchemes": {"ApiKey": {"type": "http", "scheme": "bearer"}},
    },
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS_CACHE_URL = env.str("REDIS_CACHE_URL", default="")
if REDIS_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_CACHE_URL,
        }
    }

# Celery: unset broker means inline execution in the web process (SPEC §9).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# Without a broker there is no beat: server processes run CELERY_BEAT_SCHEDULE themselves
# (config/inline_scheduler.py, docs/OPERATIONS.md).
INLINE_SCHEDULER = env.bool("INLINE_SCHEDULER", default=not CELERY_BROKER_URL)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connection before and after every task unless this
# is set: a new PostgreSQL backend per event (about 25 ms of PostgreSQL CPU, bench/load.py) and
# every prepared statement planned again. Workers keep their connection like web processes do
# (config/celery.py applies CONN_MAX_AGE and the health check per task); the fixup still
# recycles it every this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict = {}
# Rewards past their program's hold_days are confirmed by this sweep (without a broker: the
# inline scheduler, or `manage.py confirm_due_rewards` from cron).
CELERY_BEAT_SCHEDULE["ledger.confirm_due_rewards"] = {
    "task": "ledger.confirm_due_rewards",
    "schedule": env.int("REWARD_CONFIRM_SWEEP_SECONDS", default=3600),
}
# Payouts (SPEC section 13, docs/API.md "Payouts"): programs on the monthly schedule get their
# draft batch; provider rails re-send unanswered items (same idempotency keys) and are polled.
CELERY_BEAT_SCHEDULE["ledger.payout_schedule"] = {
    "task": "ledger.payout_schedule",
    "schedule": env.int("PAYOUT_SCHEDULE_SECONDS", default=3600),
}
CELERY_BEAT_SCHEDULE["ledger.payout_rails_sweep"] = {
    "task": "ledger.payout_rails_sweep",
    "schedule": env.int("PAYOUT_RAILS_SWEEP_SECONDS", default=900),
}
# Events lost on the way to the broker, stuck with a dead worker, or due for a retry (without a
# broker: the inline scheduler, or `manage.py requeue_stuck_events` from cron).
CELERY_BEAT_SCHEDULE["rules.requeue_stuck_events"] = {
    "task": "rules.requeue_stuck_events",
    "schedule": env.int("EVENT_REQUEUE_SWEEP_SECONDS", default=60),
}
# Referral clicks (SPEC section 11, docs/OPERATIONS.md "Clicks"): the redirect writes one raw row;
# this job recomputes today's and yesterday's daily roll-ups from them.
# Billing webhooks (docs/INTEGRATIONS.md) whose hand-off was lost, or whose retry is due.
CELERY_BEAT_SCHEDULE["billing.deliveries_sweep"] = {
    "task": "billing.deliveries_sweep",
    "schedule": env.int("BILLING_SWEEP_SECONDS", default=60),
}
CELERY_BEAT_SCHEDULE["rules.clicks_rollup"] = {
    "task": "rules.clicks_rollup",
    "schedule": env.int("CLICK_ROLLUP_SECONDS", default=300),
}
# Raw clicks older than CLICK_RETENTION_DAYS are deleted, whole UTC days at a time, after their
# day is rolled up. Keep it above the longest attribution window (365 days): attribution reads
# the raw click, and a deleted one is "unknown".
CLICK_RETENTION_DAYS = env.int("CLICK_RETENTION_DAYS", default=400)
CELERY_BEAT_SCHEDULE["rules.clicks_purge"] = {
    "task": "rules.clicks_purge",
    "schedule": crontab(hour=3, minute=30),
}
# Partner tiers (rules/tiers/models.py): every partner's tier is recomputed nightly, so a rolling
# window that moved past old revenue demotes as surely as a conversion promotes.
CELERY_BEAT_SCHEDULE["rules.tiers_recompute"] = {
    "task": "rules.tiers_recompute",
    "schedule": crontab(hour=2, minute=15),
}
# A click's insert does not wait for the WAL flush (synchronous_commit off for that statement's
# transaction only): a crash of PostgreSQL may lose the last fraction of a second of clicks.
CLICK_ASYNC_COMMIT = env.bool("CLICK_ASYNC_COMMIT", default=True)
# A found link's target is remembered per process this long (rules/links/target_cache.py): a
# changed landing URL or destination reaches the other processes within it.
CLICK_LINK_CACHE_SECONDS = env.float("CLICK_LINK_CACHE_SECONDS", default=10.0)
# Buffered click inserts (rules/links/services/click_buffer.py), off at 0: each process writes its
# clicks every CLICK_BUFFER_SECONDS (or at CLICK_BUFFER_SIZE waiting). A click then reaches the
# database up to that late, and a process killed with SIGKILL loses what it held.
CLICK_BUFFER_SECONDS = env.float("CLICK_BUFFER_SECONDS", default=0.0)
CLICK_BUFFER_SIZE = env.int("CLICK_BUFFER_SIZE", default=500)
# The key of the visitor hash (HMAC of client address and user agent); derived from SECRET_KEY
# when unset. Changing it only makes yesterday's visitors count as new ones.
CLICK_HASH_SECRET = env.str("CLICK_HASH_SECRET", default="")
# Take the client address from the last X-Forwarded-For entry (the one the proxy added) instead
# of the connection's: set it only behind a proxy that appends that header.
CLICK_IP_FROM_FORWARDED_FOR = env.bool(
    "CLICK_IP_FROM_FORWARDED_FOR", default=env.bool("DJANGO_BEHIND_PROXY", default=False)
)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING (JSON) like the web
# Webhooks (docs/WEBHOOKS.md): the sweep sends due retries and any message whose hand-off was lost.
WEBHOOK_SWEEP_SECONDS = env.int("WEBHOOK_SWEEP_SECONDS", default=30)
CELERY_BEAT_SCHEDULE["ledger.webhook_deliver_due"] = {
    "task": "ledger.webhook_deliver_due",
    "schedule": WEBHOOK_SWEEP_SECONDS,
}
# Partner emails (builder/portal/outbox.py): due retries and any email whose hand-off was lost.
CELERY_BEAT_SCHEDULE["portal.email_send_due"] = {
    "task": "portal.email_send_due",
    "schedule": env.int("PORTAL_EMAIL_SWEEP_SECONDS", default=30),
}
# Nightly reconciliation at 03:00 UTC, stored as runs (without a broker: the inline scheduler,
# or cron runs `manage.py reconcile`; docs/OPERATIONS.md).
CELERY_BEAT_SCHEDULE["ledger.reconcile_nightly"] = {
    "task": "ledger.reconcile_nightly",
    "schedule": crontab(hour=3, minute=0),
}
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_INLINE_TIMEOUT_SECONDS = env.float("WEBHOOK_INLINE_TIMEOUT_SECONDS", default=2)
# Without a broker each process sends webhooks on this many threads (each holds a database
# connection only while it sends); jobs beyond the queue limit wait for the sweep.
WEBHOOK_INLINE_WORKERS = env.int("WEBHOOK_INLINE_WORKERS", default=4)
WEBHOOK_INLINE_QUEUE = env.int("WEBHOOK_INLINE_QUEUE", default=1000)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=15)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=60)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env.int("WEBHOOK_RETRY_MAX_DELAY_SECONDS", default=6 * 3600)
# Endpoint URLs are user input: loopback and private addresses are refused unless allowed.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=DEBUG)

# The ledger prepares its booking statement once per connection (planned once, not per reward);
# off by default behind PgBouncer, which keeps prepared statements across transactions only from
# 1.21 on with max_prepared_statements set (then set this to true).
LEDGER_PREPARED_STATEMENTS = env.bool("LEDGER_PREPARED_STATEMENTS", default=not DB_POOLER)

# GET /metrics (SPEC §15, config/platform/metrics.py): from these client addresses (the
# connection's, or X-Forwarded-For's last entry with CLICK_IP_FROM_FORWARDED_FOR) or with
# `Authorization: Bearer $METRICS_TOKEN`; anyone else gets a 404. Both unset: nobody.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

GROQ_API_KEY = env.str("GROQ_API_KEY", default="")
# A model that supports Groq's json_schema response format (structured outputs).
GROQ_MODEL = env.str("GROQ_MODEL", default="openai/gpt-oss-20b")

# HTTPS: secure by default when DEBUG is false (`manage.py check --deploy` is clean); each part
# can be turned off by its variable, e.g. DJANGO_SECURE_SSL_REDIRECT=false behind a proxy that
# already redirects, or for a local benchmark over plain HTTP.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response (admin, builder, API docs, API, health): scripts and
# styles only from this origin's static files, or inline with the request's nonce (the admin's
# change list uses `{% csp_nonce_attr %}`). The builder's canvas library injects its own
# stylesheet, so builder.views.editor allows inline styles on that one page (scripts stay strict).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
# Set when a proxy terminates TLS and sends X-Forwarded-Proto (only then: a client could fake it).
if env.bool("DJANGO_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# One JSON object per line with the request id (config/logging.py); LOG_FORMAT=json|text.
LOGGING = logging_config(
    fmt=env.str("LOG_FORMAT", default="text" if DEBUG else "json"),
    level=env.str("LOG_LEVEL", default="INFO"),
)
