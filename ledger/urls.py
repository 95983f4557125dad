"""The books over HTTP (SPEC §2-3, §8): accounts, transactions and reconciliation runs."""

from django.urls import path

from ledger.apis import reconciliations as reconciliation_apis
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
