"""Reconciliation runs over the API (SPEC §8)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.serializers import rendered
from config.platform.api.views import ProgramAPIView
from ledger.models import ReconciliationRun
from ledger.selectors import reconciliation_run_latest
from ledger.services.reconciliation_runs import reconciliation_record


class ReconciliationRunSerializer(serializers.ModelSerializer):
    checks = serializers.JSONField(
        help_text='[{"name", "status": "clean"|"discrepancies", "findings": count}]'
    )
    findings = serializers.JSONField(
        help_text='[{"check", "object_type", "object_id", "message", "expected", "actual"}]'
    )

    class Meta:
        model = ReconciliationRun
        fields = ["id", "status", "checks", "findings", "actor", "started_at", "finished_at"]


class ReconciliationListApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.add_reconciliationrun"}

    @extend_schema(
        request=None,
        responses={201: ReconciliationRunSerializer},
        description="Run every integrity check for the program now and store the run: ledger "
        "balance checks, reward states against their ledger transactions and executed payouts "
        "against their transfers.",
    )
    def post(self, request: Request, program: str) -> Response:
        run = reconciliation_record(program=self.program, actor=self.actor)
        return Response(rendered(ReconciliationRunSerializer, run), status=status.HTTP_201_CREATED)


class ReconciliationLatestApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_reconciliationrun"}

    @extend_schema(
        responses=ReconciliationRunSerializer,
        description="The program's most recent run (API, admin, command or nightly); 404 "
        "`not_found` before the first one.",
    )
    def get(self, request: Request, program: str) -> Response:
        run = reconciliation_run_latest(program=self.program)
        return Response(rendered(ReconciliationRunSerializer, run))
