"""Routes under /api/v1/programs/<slug>/ (partner tiers)."""

from django.urls import path

from rules.tiers.apis import TiersApi

urlpatterns = [
    path("tiers", TiersApi.as_view(), name="tiers"),
]
