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
