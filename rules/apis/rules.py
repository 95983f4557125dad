"""Rules: versions, publishing, validation, dry runs, explanations, drafting from text."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import rendered, rendered_many, validated
from config.platform.api.views import ProgramAPIView
from config.platform.exceptions import ValidationFailed
from rules.action_registry import actions_catalog
from rules.explain import explain
from rules.models import Rule
from rules.nl import draft_from_text
from rules.rewards.operations import operation_set_get
from rules.selectors import (
    rule_get,
    rule_latest_versions,
    rule_list,
    rule_version_get,
    rule_version_list,
)
from rules.serializers import (
    DraftFromTextSerializer,
    PublishSerializer,
    RuleSerializer,
    RuleTestSerializer,
    RuleVersionSerializer,
    SimulateSerializer,
)
from rules.services import rules as rule_services
from rules.services.simulate import rule_simulate, rule_test
from rules.validation import MAX_DEFINITION_BODY_DEPTH, rule_schema

INVALID = {400: OpenApiTypes.OBJECT}
_VERSION_RE = re.compile(r"[1-9][0-9]{0,8}")
VERSION_PARAM = OpenApiParameter(
    "version", OpenApiTypes.INT, description="a version number (default: the active, else latest)"
)


def _definition_from(data: Any) -> Any:
    """The body is the definition (SPEC §6); `{"definition": {...}}` is accepted too."""
    if isinstance(data, dict) and set(data) == {"definition"}:
        return data["definition"]
    return data


def _render(rule: Rule, **kwargs: Any) -> Response:
    return Response(rendered(RuleSerializer, rule), **kwargs)


class RuleListApi(ProgramAPIView):
    max_json_depth = MAX_DEFINITION_BODY_DEPTH  # a definition may nest 32 condition groups
    required_permissions = {"GET": "rules.view_rule", "POST": "rules.add_rule"}

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR)],
        responses=RuleSerializer(many=True),
    )
    def get(self, request: Request, program: str) -> Response:
        rules = rule_list(program=self.program, status=request.query_params.get("status"))
        paginator = CursorPagination()
        page = paginator.paginate_queryset(rules, request, view=self) or []
        latest = rule_latest_versions(page)
        results = [RuleSerializer(r, context={"latest": latest.get(r.pk)}).data for r in page]
        return paginator.get_paginated_response(results)

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={201: RuleSerializer, **INVALID},
        description="Create a rule from a definition (SPEC §6 format) as draft version 1. "
        "An invalid definition is 400 `rule_invalid` with `errors: [{path, message}]`.",
    )
    def post(self, request: Request, program: str) -> Response:
        rule = rule_services.rule_create(
            program=self.program, definition=_definition_from(request.data), actor=self.actor
        )
        return _render(rule, status=status.HTTP_201_CREATED)


class RuleDetailApi(ProgramAPIView):
    max_json_depth = MAX_DEFINITION_BODY_DEPTH  # a definition may nest 32 condition groups
    required_permissions = {"GET": "rules.view_rule", "PUT": "rules.change_rule"}

    @extend_schema(responses=RuleSerializer)
    def get(self, request: Request, program: str, pk: str) -> Response:
        return _render(rule_get(program=self.program, rule_id=pk))

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: RuleSerializer, **INVALID},
        description="Save the definition as a new draft version (versions are immutable; the "
        "active version stays active until another is published).",
    )
    def put(self, request: Request, program: str, pk: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        rule = rule_services.rule_update(
            rule=rule, definition=_definition_from(request.data), actor=self.actor
        )
        return _render(rule)


class VersionPagination(CursorPagination):
    ordering = ("-version",)


class RuleVersionsApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_ruleversion"}

    @extend_schema(responses=RuleVersionSerializer(many=True))
    def get(self, request: Request, program: str, pk: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        versions = rule_version_list(rule=rule)
        paginator = VersionPagination()
        page = paginator.paginate_queryset(versions, request, view=self)
        return paginator.get_paginated_response(rendered_many(RuleVersionSerializer, page))


class RulePublishApi(ProgramAPIView):
    required_permissions = {"POST": "rules.change_rule"}

    @extend_schema(
        request=PublishSerializer,
        responses=RuleSerializer,
        description="Make a version the active one (default: the latest). Publishing an older "
        "version rolls back.",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        data = validated(PublishSerializer, request.data or {})
        rule = rule_get(program=self.program, rule_id=pk)
        return _render(
            rule_services.rule_publish(rule=rule, version=data["version"], actor=self.actor)
        )


class RuleArchiveApi(ProgramAPIView):
    required_permissions = {"POST": "rules.change_rule"}

    @extend_schema(request=None, responses=RuleSerializer)
    def post(self, request: Request, program: str, pk: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        return _render(rule_services.rule_archive(rule=rule, actor=self.actor))


class RuleValidateApi(ProgramAPIView):
    max_json_depth = MAX_DEFINITION_BODY_DEPTH  # a definition may nest 32 condition groups
    required_permissions = {"POST": "rules.view_rule"}

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, **INVALID},
        description='`{"valid": true}`, or 400 `rule_invalid` with `errors: [{path, message}]`.',
    )
    def post(self, request: Request, program: str) -> Response:
        rule_services.rule_definition_check(
            program=self.program, definition=_definition_from(request.data)
        )
        return Response({"valid": True})


class RuleTestApi(ProgramAPIView):
    required_permissions = {"POST": "rules.view_rule"}

    @extend_schema(
        request=RuleTestSerializer,
        responses=OpenApiTypes.OBJECT,
        description="Evaluate a version (default: latest) against an event: "
        '`{"matched", "trace", "actions"}`. Nothing is written.',
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        data = validated(RuleTestSerializer, request.data)
        rule = rule_get(program=self.program, rule_id=pk)
        return Response(
            rule_test(program=self.program, rule=rule, event=data["event"], version=data["version"])
        )


class RuleSimulateApi(ProgramAPIView):
    max_json_depth = MAX_DEFINITION_BODY_DEPTH  # a definition may nest 32 condition groups
    required_permissions = {"POST": "rules.view_rule"}

    @extend_schema(
        request=SimulateSerializer,
        responses=OpenApiTypes.OBJECT,
        description="Replay stored events of the definition's trigger that occurred in "
        '[from, to] through it: `{"events_scanned", "matched", "rewards": {"count", '
        '"amount"}}`. Profiles are read as they are now; limits are not applied. Nothing is '
        "written.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(SimulateSerializer, request.data)
        return Response(
            rule_simulate(
                program=self.program,
                definition=data["definition"],
                start=data["from"],
                end=data["to"],
            )
        )


class RuleDraftFromTextApi(ProgramAPIView):
    required_permissions = {"POST": "rules.add_rule"}

    @extend_schema(
        request=DraftFromTextSerializer,
        responses=OpenApiTypes.OBJECT,
        description='`{"definition", "source": "llm"|"offline", "warnings"}`. Uses Groq when '
        "GROQ_API_KEY is set, a deterministic offline parser otherwise. Never publishes.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(DraftFromTextSerializer, request.data)
        return Response(
            draft_from_text(
                data["text"],
                catalog=rule_services.program_catalog(program=self.program),
                api_key=settings.GROQ_API_KEY,
                model=settings.GROQ_MODEL,
                currency=self.program.currency,
            )
        )


class RuleExplainApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_rule"}

    @extend_schema(parameters=[VERSION_PARAM], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, program: str, pk: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        raw = request.query_params.get("version")
        if raw is not None:
            # str.isdigit() accepts "²" and other digits int() refuses; bounded to fit int4
            if not _VERSION_RE.fullmatch(raw):
                raise ValidationFailed(
                    "version is a positive integer.",
                    errors=[{"field": "version", "message": "must be a positive integer"}],
                )
            version = rule_version_get(rule=rule, version=int(raw))
        else:
            version = rule.active_version or rule_version_get(rule=rule)
        text = explain(version.definition, currency=self.program.currency)
        return Response({"text": text, "version": version.version})


class RuleCatalogApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_rule"}

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="Triggers (built-in and the program's custom ones) and the typed fields "
        "their events offer, and the actions a rule may take (rules/actions/): "
        '`{"triggers": {name: {"description", "fields": {path: type}}}, "actions": [{"type", '
        '"label", "defaults", "fields": [{"name", "label", "kind", "hint", "options", "empty", '
        '"minimum"}], "summary"}]}`. An action\'s `defaults` are the params of a new one (the '
        "program's currency filled in); `fields` are its params in form order, `kind` being "
        "beneficiary, money, currency, choice, integer, basis_points, numeric_field or text; "
        "`summary` lines show a node on the builder's canvas, `{param}` standing for a value.",
    )
    def get(self, request: Request, program: str) -> Response:
        catalog = rule_services.program_catalog(program=self.program)
        operations = list(operation_set_get(self.program.operation_set).__members__)
        catalog["actions"] = actions_catalog(
            currency=self.program.currency, options={"operation": operations}
        )
        return Response(catalog)


class RuleSchemaApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_rule"}

    @extend_schema(responses=OpenApiTypes.OBJECT, description="The rule format's JSON Schema.")
    def get(self, request: Request, program: str) -> Response:
        return Response(rule_schema())
