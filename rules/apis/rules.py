"""Rules: versions, publishing, validation, dry runs, explanations, drafting from text."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.errors import PROBLEM, problem
from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import rendered, rendered_many, validated
from config.platform.api.views import ProgramAPIView
from config.platform.currencies import currency_exponent
from config.platform.exceptions import ValidationFailed
from rules.action_registry import actions_catalog
from rules.explain import explain
from rules.models import Rule, RulePublishRequest
from rules.nl import draft_from_text
from rules.rewards.operations import operation_set_get
from rules.rule_results import results_window, rule_results
from rules.selectors import (
    rule_get,
    rule_latest_versions,
    rule_list,
    rule_scenario_get,
    rule_scenario_list,
    rule_version_get,
    rule_version_list,
)
from rules.serializers import (
    DraftFromTextSerializer,
    PublishSerializer,
    RejectSerializer,
    ResultsQuerySerializer,
    RulePublishRequestSerializer,
    RuleSerializer,
    RuleTestSerializer,
    RuleTestUnsavedSerializer,
    RuleVersionSerializer,
    ScenarioSerializer,
    ScenariosRunSerializer,
    ScenarioWriteSerializer,
    SimulateSerializer,
)
from rules.services import publishing
from rules.services import rules as rule_services
from rules.services import scenarios as scenario_services
from rules.services.simulate import rule_simulate, rule_test, rule_test_unsaved
from rules.tiers.selectors import tier_list
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
        "active version stays active until another is published). The rule's scenarios run "
        'against the new version and their results are stored: the response adds `"scenarios": '
        '{"total", "failed", "results": [{"scenario", "name", "passed", "message", "expected", '
        '"actual"}]}`.',
    )
    def put(self, request: Request, program: str, pk: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        rule, ran = scenario_services.rule_save(
            rule=rule, definition=_definition_from(request.data), actor=self.actor
        )
        return Response({**rendered(RuleSerializer, rule), "scenarios": ran})


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
        responses={200: RuleSerializer, 202: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
        description="Make a version the active one (default: the latest). Publishing an older "
        "version rolls back. A version that fails any of the rule's scenarios is 409 "
        '`invalid_transition` with `"scenarios": [failing results]`. When the program requires '
        "approval (rules settings: `rules_publish_requires_approval`), nothing is published: "
        '202 `{"publish_request": {"id", "rule", "version", "status": "pending", '
        '"requested_by", "created_at", ...}}`, which another person approves; a pending request '
        "for another version is superseded.",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        data = validated(PublishSerializer, request.data or {})
        rule = rule_get(program=self.program, rule_id=pk)
        try:
            done = publishing.rule_publish_checked(
                rule=rule, version=data["version"], actor=self.actor
            )
        except publishing.ScenariosFailing as exc:
            return _scenarios_failing(exc)
        if isinstance(done, RulePublishRequest):
            return Response(
                {"publish_request": rendered(RulePublishRequestSerializer, done)},
                status=status.HTTP_202_ACCEPTED,
            )
        return _render(done)


def _scenarios_failing(exc: publishing.ScenariosFailing) -> Response:
    """409 invalid_transition as problem+json, with the failing scenarios' results."""
    body = problem(
        status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
    )
    body["scenarios"] = exc.scenarios
    return Response(body, status=exc.status, content_type=PROBLEM)


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


class RuleTestUnsavedApi(ProgramAPIView):
    max_json_depth = MAX_DEFINITION_BODY_DEPTH  # a definition may nest 32 condition groups
    required_permissions = {"POST": "rules.view_rule"}

    @extend_schema(
        request=RuleTestUnsavedSerializer,
        responses={200: OpenApiTypes.OBJECT, **INVALID},
        operation_id="rules_test_unsaved",
        description='Evaluate an unsaved definition against an event: `{"definition", '
        '"event"}` → the body of POST rules/{id}/test (`"matched", "trace", "actions", '
        '"warnings"`; `rule` and `version` null). The definition is validated first (400 '
        "`rule_invalid`). Nothing is written.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(RuleTestUnsavedSerializer, request.data)
        return Response(
            rule_test_unsaved(
                program=self.program, definition=data["definition"], event=data["event"]
            )
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
                tiers={t.key: t.name for t in tier_list(program=self.program)},
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
        text = explain(
            version.definition,
            currency=self.program.currency,
            catalog=rule_services.program_catalog(program=self.program),
        )
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
        "`summary` lines show a node on the builder's canvas, `{param}` standing for a value. "
        "`currency` is the program's and `currency_exponent` its minor-unit digits (money is "
        "typed in major units and stored in minor ones).",
    )
    def get(self, request: Request, program: str) -> Response:
        catalog = rule_services.program_catalog(program=self.program)
        operations = list(operation_set_get(self.program.operation_set).__members__)
        catalog["actions"] = actions_catalog(
            currency=self.program.currency, options={"operation": operations}
        )
        catalog["currency"] = self.program.currency
        catalog["currency_exponent"] = currency_exponent(self.program.currency)
        return Response(catalog)


class RuleSchemaApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_rule"}

    @extend_schema(responses=OpenApiTypes.OBJECT, description="The rule format's JSON Schema.")
    def get(self, request: Request, program: str) -> Response:
        return Response(rule_schema())


# --- scenarios, publish requests, results (issue 15) ----------------------------------------

SCENARIO_SHAPE = (
    'A scenario: `{"id", "name", "event": {an event as POST rules/{id}/test takes it}, '
    '"expect": {"matched": bool, "rewards"?: [{"beneficiary": "referrer"|"referred"|"parent", '
    '"amount": minor units, "currency"?}]}, "last_result": {"passed", "version", "ran_at", '
    '"message"} | null}`. Without `rewards` only the match is compared; with it, the rewards the '
    "rule would book must be exactly those."
)


class RuleScenarioListApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_rule", "POST": "rules.change_rule"}

    @extend_schema(
        responses=ScenarioSerializer(many=True),
        description="The rule's saved test scenarios, newest first. " + SCENARIO_SHAPE,
    )
    def get(self, request: Request, program: str, pk: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(rule_scenario_list(rule=rule), request, self)
        return paginator.get_paginated_response(rendered_many(ScenarioSerializer, page or []))

    @extend_schema(
        request=ScenarioWriteSerializer,
        responses={201: ScenarioSerializer, **INVALID},
        description="Save a scenario (`name` unique within the rule, at most 100 per rule); "
        "it runs at once against the latest version and `last_result` says how it did. "
        + SCENARIO_SHAPE,
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        data = validated(ScenarioWriteSerializer, request.data)
        rule = rule_get(program=self.program, rule_id=pk)
        scenario = scenario_services.scenario_create(rule=rule, actor=self.actor, **data)
        return Response(rendered(ScenarioSerializer, scenario), status=status.HTTP_201_CREATED)


class RuleScenarioDetailApi(ProgramAPIView):
    required_permissions = {
        "GET": "rules.view_rule",
        "PUT": "rules.change_rule",
        "DELETE": "rules.change_rule",
    }

    @extend_schema(responses=ScenarioSerializer, description=SCENARIO_SHAPE)
    def get(self, request: Request, program: str, pk: str, sid: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        return Response(rendered(ScenarioSerializer, rule_scenario_get(rule=rule, scenario_id=sid)))

    @extend_schema(
        request=ScenarioWriteSerializer,
        responses={200: ScenarioSerializer, **INVALID},
        description="Replace a scenario's name, event and expectation; it runs again against "
        "the latest version. " + SCENARIO_SHAPE,
    )
    def put(self, request: Request, program: str, pk: str, sid: str) -> Response:
        data = validated(ScenarioWriteSerializer, request.data)
        rule = rule_get(program=self.program, rule_id=pk)
        scenario = scenario_services.scenario_update(
            scenario=rule_scenario_get(rule=rule, scenario_id=sid), actor=self.actor, **data
        )
        return Response(rendered(ScenarioSerializer, scenario))

    @extend_schema(request=None, responses={204: None}, description="Delete a scenario.")
    def delete(self, request: Request, program: str, pk: str, sid: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        scenario_services.scenario_delete(
            scenario=rule_scenario_get(rule=rule, scenario_id=sid), actor=self.actor
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleScenariosRunApi(ProgramAPIView):
    max_json_depth = MAX_DEFINITION_BODY_DEPTH  # a definition may nest 32 condition groups
    required_permissions = {"POST": "rules.change_rule"}

    @extend_schema(
        request=ScenariosRunSerializer,
        responses={200: OpenApiTypes.OBJECT, **INVALID},
        description='Run every scenario of the rule: `{"passed": bool, "results": [{"scenario", '
        '"name", "passed", "message", "expected", "actual": {"matched", "rewards"}}]}`. With '
        '`"definition"` (the canvas, unsaved; 400 `rule_invalid` when invalid) nothing is '
        "written; without, they run against the latest version and each scenario's "
        "`last_result` is stored.",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        data = validated(ScenariosRunSerializer, request.data or {})
        rule = rule_get(program=self.program, rule_id=pk)
        if "definition" in data:
            return Response(
                scenario_services.scenarios_run_unsaved(
                    program=self.program, rule=rule, definition=data["definition"]
                )
            )
        return Response(scenario_services.scenarios_run_latest(rule=rule))


class RulePublishRequestListApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_rule"}

    @extend_schema(
        responses=RulePublishRequestSerializer(many=True),
        description="The rule's publish requests (two-person publishing), newest first: "
        "status pending, approved, rejected or superseded.",
    )
    def get(self, request: Request, program: str, pk: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(
            publishing.publish_request_list(rule=rule), request, view=self
        )
        return paginator.get_paginated_response(
            rendered_many(RulePublishRequestSerializer, page or [])
        )


class RulePublishRequestApproveApi(ProgramAPIView):
    # Its own permission (rule authors hold it): change_rule is every backend API key's too.
    required_permissions = {"POST": "rules.approve_rulepublishrequest"}

    @extend_schema(
        request=None,
        responses={200: RuleSerializer, 409: OpenApiTypes.OBJECT},
        description="Approve a pending publish request (permission "
        "`rules.approve_rulepublishrequest`: rule authors; not the api clients group): its "
        "version is published (200, the rule). Its requester may not approve it (403 `four_eyes_violation`; an API key acts "
        "as its owner). A request that is no longer pending, or whose version now fails a "
        'scenario (with `"scenarios"`), is 409 `invalid_transition`.',
    )
    def post(self, request: Request, program: str, pk: str, rid: str) -> Response:
        rule = rule_get(program=self.program, rule_id=pk)
        publish_request = publishing.publish_request_get(rule=rule, request_id=rid)
        try:
            published = publishing.publish_request_approve(
                publish_request=publish_request, actor=self.actor
            )
        except publishing.ScenariosFailing as exc:
            return _scenarios_failing(exc)
        return _render(published)


class RulePublishRequestRejectApi(ProgramAPIView):
    required_permissions = {"POST": "rules.change_rule"}

    @extend_schema(
        request=RejectSerializer,
        responses={200: RulePublishRequestSerializer, **INVALID},
        description='Reject a pending publish request (`{"reason"}` required): 200, the '
        'request with status "rejected". Its requester may reject it too (a withdrawal).',
    )
    def post(self, request: Request, program: str, pk: str, rid: str) -> Response:
        data = validated(RejectSerializer, request.data)
        rule = rule_get(program=self.program, rule_id=pk)
        rejected = publishing.publish_request_reject(
            publish_request=publishing.publish_request_get(rule=rule, request_id=rid),
            actor=self.actor,
            reason=data["reason"],
        )
        return Response(rendered(RulePublishRequestSerializer, rejected))


class RuleResultsApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_rule"}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="first day (UTC)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day, inclusive"),
        ],
        responses=OpenApiTypes.OBJECT,
        description="What the rule did per UTC day (default: the last 30 days; at most 366): "
        '`{"rule", "currency", "from", "to", "totals": {"matches", "rewards": {"count", '
        '"amount", "by_status": {status: {"count", "amount"}}}}, "series": [{"date", '
        '"matches", "rewards_count", "rewards_amount"}]}`. Matches are processed events whose '
        "results say this rule (any version) matched; rewards are those its actions created, "
        "by their status now. Days follow the events' occurred_at; money is in minor units.",
    )
    def get(self, request: Request, program: str, pk: str) -> Response:
        data = validated(ResultsQuerySerializer, request.query_params.dict())
        rule = rule_get(program=self.program, rule_id=pk)
        start, end = results_window(data["from"], data["to"], today=timezone.now().date())
        return Response(rule_results(rule=rule, start=start, end=end))
