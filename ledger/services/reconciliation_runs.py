"""Stored reconciliation runs: what the API, the admin's "run now", the `reconcile` command and
the nightly schedule found (SPEC §8)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.models import Program
from ledger.models import ReconciliationRun
from ledger.services.reconciliation import Progress, reconciliation_run

NIGHTLY_ACTOR = "schedule:nightly_reconciliation"


def _record_one(
    *, program: Program | None, actor: str, progress: Progress | None
) -> ReconciliationRun:
    started = timezone.now()
    report = reconciliation_run(program=program, progress=progress)
    with transaction.atomic():
        run = ReconciliationRun.objects.create(
            program=program,
            status=report.status,
            checks=report.checks,
            findings=report.findings,
            actor=actor,
            started_at=started,
            finished_at=timezone.now(),
        )
        audit_record(
            program=program,
            actor=actor,
            action="reconciliation.completed",
            object_type="reconciliation_run",
            object_id=run.pk,
            after={"status": run.status, "findings": len(run.findings)},
        )
    return run


def reconciliation_record(
    *, program: Program | None = None, actor: str, progress: Progress | None = None
) -> ReconciliationRun:
    """Run every check and store the run. Over the whole ledger (program None), each program's
    run is stored too, so `GET …/reconciliations/latest` shows what the nightly run found for
    that program without exposing other programs' findings; the whole-ledger run (returned)
    adds the cross-program totals."""
    if program is None:
        for each in Program.objects.order_by("pk"):
            _record_one(program=each, actor=actor, progress=None)
    return _record_one(program=program, actor=actor, progress=progress)
