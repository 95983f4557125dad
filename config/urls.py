from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.platform.api.errors import api_not_found, problem_not_found
from config.platform.health import healthz, readyz
from config.platform.metrics import metrics_view
from rules.billing.views import billing_hook
from rules.links.views import referral_redirect

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),  # SPEC §15, config/platform/metrics.py
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, not inline (Content-Security-Policy).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include("config.api_urls")),
    # Anything else under /api/ is a problem+json 404 (a slashless docs/schema URL still
    # redirects to its slash).
    re_path(r"^api/(?!docs$|schema$)", api_not_found),
    # Referral links (SPEC section 11): public, a 302 to the program's site or a plain 404 page.
    path("r/<str:code>", referral_redirect, name="referral-redirect"),
    path("r/<str:code>/<str:slug>", referral_redirect, name="referral-link-redirect"),
    # Billing connectors (SPEC section 13): public, authenticated by the provider's signature.
    path("hooks/<str:provider>/<str:program>", billing_hook, name="billing-hook"),
    path("admin/", admin.site.urls),
    path("builder/", include("builder.urls")),
    # The partner portal (SPEC section 12): partners' own pages, signed in by email links.
    path("portal/", include("builder.portal.urls")),
]

handler404 = problem_not_found
