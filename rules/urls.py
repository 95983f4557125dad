"""Routes under /api/v1/programs/<slug>/ (SPEC §6)."""

from django.urls import path

from rules.apis import event_batch, events, participants
from rules.apis import rules as rules_apis

urlpatterns = [
    path(
        "participants/<str:external_id>",
        participants.ParticipantDetailApi.as_view(),
        name="participant-detail",
    ),
    path(
        "participants/<str:external_id>/tree",
        participants.ParticipantTreeApi.as_view(),
        name="participant-tree",
    ),
    path(
        "participants/<str:external_id>/stats",
        participants.ParticipantStatsApi.as_view(),
        name="participant-stats",
    ),
    path("referrals", participants.ReferralListApi.as_view(), name="referral-list"),
    path("events", events.EventListApi.as_view(), name="event-list"),
    path("events/batch", event_batch.EventBatchApi.as_view(), name="event-batch"),
    path(
        "events/<str:event_id>/explain",
        events.EventExplainApi.as_view(),
        name="event-explain",
    ),
    path("events/<str:event_id>", events.EventDetailApi.as_view(), name="event-detail"),
    path("rules", rules_apis.RuleListApi.as_view(), name="rule-list"),
    path("rules/validate", rules_apis.RuleValidateApi.as_view(), name="rule-validate"),
    path("rules/simulate", rules_apis.RuleSimulateApi.as_view(), name="rule-simulate"),
    path(
        "rules/draft-from-text",
        rules_apis.RuleDraftFromTextApi.as_view(),
        name="rule-draft-from-text",
    ),
    path("rules/catalog", rules_apis.RuleCatalogApi.as_view(), name="rule-catalog"),
    path("rules/schema", rules_apis.RuleSchemaApi.as_view(), name="rule-schema"),
    path("rules/test", rules_apis.RuleTestUnsavedApi.as_view(), name="rule-test-unsaved"),
    path("rules/<int:pk>", rules_apis.RuleDetailApi.as_view(), name="rule-detail"),
    path(
        "rules/<int:pk>/scenarios",
        rules_apis.RuleScenarioListApi.as_view(),
        name="rule-scenarios",
    ),
    path(
        "rules/<int:pk>/scenarios/run",
        rules_apis.RuleScenariosRunApi.as_view(),
        name="rule-scenarios-run",
    ),
    path(
        "rules/<int:pk>/scenarios/<int:sid>",
        rules_apis.RuleScenarioDetailApi.as_view(),
        name="rule-scenario-detail",
    ),
    path(
        "rules/<int:pk>/publish-requests",
        rules_apis.RulePublishRequestListApi.as_view(),
        name="rule-publish-requests",
    ),
    path(
        "rules/<int:pk>/publish-requests/<int:rid>/approve",
        rules_apis.RulePublishRequestApproveApi.as_view(),
        name="rule-publish-request-approve",
    ),
    path(
        "rules/<int:pk>/publish-requests/<int:rid>/reject",
        rules_apis.RulePublishRequestRejectApi.as_view(),
        name="rule-publish-request-reject",
    ),
    path("rules/<int:pk>/results", rules_apis.RuleResultsApi.as_view(), name="rule-results"),
    path("rules/<int:pk>/versions", rules_apis.RuleVersionsApi.as_view(), name="rule-versions"),
    path("rules/<int:pk>/publish", rules_apis.RulePublishApi.as_view(), name="rule-publish"),
    path("rules/<int:pk>/archive", rules_apis.RuleArchiveApi.as_view(), name="rule-archive"),
    path("rules/<int:pk>/test", rules_apis.RuleTestApi.as_view(), name="rule-test"),
    path("rules/<int:pk>/explain", rules_apis.RuleExplainApi.as_view(), name="rule-explain"),
]
