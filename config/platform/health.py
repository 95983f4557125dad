import logging

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# Once every migration is applied it stays so for this process's code (a deploy restarts it),
# so later probes skip loading the migration graph.
_migrated = False


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database answers and no migration is left to apply."""
    global _migrated
    unapplied = []
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrated:
            executor = MigrationExecutor(connection)
            unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:  # any database failure means "not ready"
        # The message can name the database host and user: logged, never shown to the prober.
        logger.exception("readiness check failed")
        return JsonResponse({"status": "unavailable", "detail": "database unavailable"}, status=503)
    if unapplied:
        return JsonResponse(
            {"status": "unavailable", "detail": f"{len(unapplied)} migrations not applied"},
            status=503,
        )
    _migrated = True
    return JsonResponse({"status": "ok"})
