"""gunicorn settings: `gunicorn -c config/gunicorn.conf.py config.wsgi` (docs/OPERATIONS.md).

Every value can be changed by an environment variable without editing this file. Logs go to
stderr as JSON lines through the application's LOGGING (config/logging.py), access lines included,
each with the request id the application echoes in `X-Request-ID`.
"""

import multiprocessing
import os

from config.logging import logging_config

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Threaded workers (gthread): a sync worker serves one connection at a time and blocks on a
# client's idle keep-alive connection until `timeout` kills it, so it is only safe behind a
# buffering proxy; gthread parks idle connections in a poller. Each thread holds one database
# connection. (2 x cores) + 1 processes is gunicorn's rule of thumb; GUNICORN_THREADS=1 gives
# sync workers (docs/PERFORMANCE.md, Load, compares them).
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread" if threads > 1 else "sync"
# A worker stuck longer than this is killed and replaced; its open transaction rolls back.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so a slow leak cannot grow without bound; jitter spreads restarts.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))
# Import the application once in the master: workers fork with it loaded (faster, less memory).
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() == "true"
# Behind a load balancer that terminates TLS: trust X-Forwarded-* from these addresses only.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

# "-" = stderr (the default); an empty value turns the access log off (gunicorn wants None).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# The message; config.logging.GunicornAccessFilter adds remote, status, duration_ms, request_id...
access_log_format = "%(m)s %(U)s %(s)s"

logconfig_dict = logging_config(
    fmt=os.environ.get("LOG_FORMAT", "json"), level=os.environ.get("LOG_LEVEL", "INFO")
)


def post_fork(server, worker):
    # Connections opened in the master (preload) must not be shared by forked workers.
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
