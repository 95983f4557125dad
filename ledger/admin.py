"""The operator console (Django admin). Admin classes live in ledger/admin_*.py by area; this
module is what Django's autodiscovery imports."""

from django.contrib import admin

# admin_users: users and groups, their changes audited as the signed-in operator.
from ledger import admin_ledger, admin_payouts, admin_rewards, admin_users  # noqa: F401

admin.site.site_header = "Referral Ledger"
admin.site.site_title = "Referral Ledger"
admin.site.index_title = "Operator console"

from ledger import admin_webhooks  # noqa: E402,F401  (webhook endpoints, messages, redeliver)
from ledger.admin_guard import install as install_selection_guard  # noqa: E402

install_selection_guard()  # a change list action on ids that are not ids: refused, not a 500
