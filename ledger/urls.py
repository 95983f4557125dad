from django.urls import path

from ledger.apis import transactions as apis

urlpatterns = [
    path("accounts", apis.AccountListApi.as_view(), name="account-list"),
    path("accounts/<str:code>", apis.AccountDetailApi.as_view(), name="account-detail"),
    path("accounts/<str:code>/entries", apis.AccountEntriesApi.as_view(), name="account-entries"),
    path("transactions", apis.TransactionListApi.as_view(), name="transaction-list"),
    path("transactions/<str:pk>", apis.TransactionDetailApi.as_view(), name="transaction-detail"),
    path("transactions/<str:pk>/post", apis.TransactionPostApi.as_view(), name="transaction-post"),
    path("transactions/<str:pk>/void", apis.TransactionVoidApi.as_view(), name="transaction-void"),
    path(
        "transactions/<str:pk>/reverse",
        apis.TransactionReverseApi.as_view(),
        name="transaction-reverse",
    ),
]

# Rewards, users and credits (SPEC §4-5).
from ledger.apis import credits as credit_apis  # noqa: E402
from ledger.apis import rewards as reward_apis  # noqa: E402
from ledger.apis import users as user_apis  # noqa: E402

urlpatterns += [
    path("rewards", reward_apis.RewardListApi.as_view(), name="reward-list"),
    path("rewards/<str:pk>", reward_apis.RewardDetailApi.as_view(), name="reward-detail"),
    path("rewards/<str:pk>/confirm", reward_apis.RewardConfirmApi.as_view(), name="reward-confirm"),
    path("rewards/<str:pk>/reverse", reward_apis.RewardReverseApi.as_view(), name="reward-reverse"),
    path(
        "rewards/<str:pk>/clawback", reward_apis.RewardClawbackApi.as_view(), name="reward-clawback"
    ),
    path("rewards/<str:pk>/release", reward_apis.RewardReleaseApi.as_view(), name="reward-release"),
    path(
        "users/<str:external_id>/balance", user_apis.UserBalanceApi.as_view(), name="user-balance"
    ),
    path("users/<str:external_id>/ledger", user_apis.UserLedgerApi.as_view(), name="user-ledger"),
    path("credits", credit_apis.CreditListApi.as_view(), name="credit-list"),
    path("credits/<str:owner_id>", credit_apis.CreditBalanceApi.as_view(), name="credit-balance"),
]

# Webhooks (docs/WEBHOOKS.md).
from ledger.apis import webhooks as webhook_apis  # noqa: E402

urlpatterns += [
    path("webhook-endpoints", webhook_apis.WebhookEndpointListApi.as_view(), name="webhook-list"),
    path(
        "webhook-endpoints/<str:pk>",
        webhook_apis.WebhookEndpointDetailApi.as_view(),
        name="webhook-detail",
    ),
    path(
        "webhook-endpoints/<str:pk>/deliveries",
        webhook_apis.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhook-endpoints/<str:pk>/messages",
        webhook_apis.WebhookMessageListApi.as_view(),
        name="webhook-messages",
    ),
    path(
        "webhook-endpoints/<str:pk>/messages/<str:message_id>/redeliver",
        webhook_apis.WebhookMessageRedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
]

# Operator console: payouts, audit log, reconciliation runs (SPEC §7-8).
from ledger.apis import audit as audit_apis  # noqa: E402
from ledger.apis import payouts as payout_apis  # noqa: E402
from ledger.apis import reconciliations as reconciliation_apis  # noqa: E402

urlpatterns += [
    path("payout-batches", payout_apis.PayoutBatchListApi.as_view(), name="payout-batch-list"),
    path(
        "payout-batches/<str:pk>",
        payout_apis.PayoutBatchDetailApi.as_view(),
        name="payout-batch-detail",
    ),
    path(
        "payout-batches/<str:pk>/items",
        payout_apis.PayoutItemListApi.as_view(),
        name="payout-batch-items",
    ),
    path(
        "payout-batches/<str:pk>/submit",
        payout_apis.PayoutBatchSubmitApi.as_view(),
        name="payout-batch-submit",
    ),
    path(
        "payout-batches/<str:pk>/approve",
        payout_apis.PayoutBatchApproveApi.as_view(),
        name="payout-batch-approve",
    ),
    path(
        "payout-batches/<str:pk>/reject",
        payout_apis.PayoutBatchRejectApi.as_view(),
        name="payout-batch-reject",
    ),
    path(
        "payout-batches/<str:pk>/execute",
        payout_apis.PayoutBatchExecuteApi.as_view(),
        name="payout-batch-execute",
    ),
    path(
        "payout-batches/<str:pk>/export.csv",
        payout_apis.PayoutBatchExportApi.as_view(),
        name="payout-batch-export",
    ),
    path("audit-log", audit_apis.AuditLogApi.as_view(), name="audit-log"),
    path(
        "reconciliations",
        reconciliation_apis.ReconciliationListApi.as_view(),
        name="reconciliation-list",
    ),
    path(
        "reconciliations/latest",
        reconciliation_apis.ReconciliationLatestApi.as_view(),
        name="reconciliation-latest",
    ),
]
