"""The operator console (Django admin): what every layer's admin shares. Django's autodiscovery
imports this package; each layer registers its own ModelAdmins in its own `admin` module."""

from django.contrib import admin

# users and groups (their changes audited as the signed-in operator), API keys, the audit log,
# the webhook endpoints and outbox
from config.platform.admin import records, users, webhooks  # noqa: F401
from config.platform.admin.guard import install as install_selection_guard

admin.site.site_header = "Referral Ledger"
admin.site.site_title = "Referral Ledger"
admin.site.index_title = "Operator console"
# "View site": the API's documentation (config.urls' "swagger-ui"; the console has no public
# site, and the rule builder has its own link beside it).
admin.site.site_url = "/api/docs/"

install_selection_guard()  # a change list action on ids that are not ids: refused, not a 500
