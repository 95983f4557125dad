"""Every program-owned resource lives under /api/v1/programs/<slug>/ (SPEC §1)."""

from django.urls import include, path

from rules.links.apis import ProgramApi

urlpatterns = [
    # GET/PATCH P: the program itself (also at its slash form, listed with the program routes).
    path("programs/<slug:program>", ProgramApi.as_view(), name="program"),
    path("programs/<slug:program>/", include("ledger.urls")),
    path("programs/<slug:program>/", include("rules.rewards.urls")),
    path("programs/<slug:program>/", include("config.platform.urls")),
    path("programs/<slug:program>/", include("rules.urls")),
    path("programs/<slug:program>/", include("rules.links.urls")),
    path("programs/<slug:program>/", include("rules.billing.urls")),
    path("programs/<slug:program>/", include("rules.tiers.urls")),
]
