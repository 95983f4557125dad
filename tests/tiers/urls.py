"""The project's routes with the tiers API mounted where config/api_urls.py mounts it (the
tests of that API run whether or not the project's URLconf carries it yet)."""

from django.urls import include, path

from config.urls import urlpatterns as project

urlpatterns = [
    path("api/v1/programs/<slug:program>/", include("rules.tiers.urls")),
    *project,
]
