"""Routes under /api/v1/programs/<slug>/ (SPEC section 13, billing connectors)."""

from django.urls import path

from rules.billing.apis import IntegrationApi

urlpatterns = [
    path("integrations/<str:provider>", IntegrationApi.as_view(), name="integration-detail"),
]
