"""Every program-owned resource lives under /api/v1/programs/<slug>/ (SPEC §1)."""

from django.urls import include, path

urlpatterns = [
    path("programs/<slug:program>/", include("ledger.urls")),
    path("programs/<slug:program>/", include("rules.rewards.urls")),
    path("programs/<slug:program>/", include("config.platform.urls")),
    path("programs/<slug:program>/", include("rules.urls")),
]
