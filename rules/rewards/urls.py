"""The referral money domain over HTTP: rewards, balances and credits (SPEC §4-5) and payout
batches (SPEC §7)."""

from django.urls import path

from rules.rewards.apis import batch as batch_apis
from rules.rewards.apis import credits as credit_apis
from rules.rewards.apis import payout_methods as payout_method_apis
from rules.rewards.apis import payouts as payout_apis
from rules.rewards.apis import rewards as reward_apis
from rules.rewards.apis import users as user_apis

urlpatterns = [
    path("rewards", reward_apis.RewardListApi.as_view(), name="reward-list"),
    path("rewards/batch", batch_apis.RewardBatchApi.as_view(), name="reward-batch"),
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
    path("payout-batches", payout_apis.PayoutBatchListApi.as_view(), name="payout-batch-list"),
    path("payout-batches/auto", payout_apis.PayoutBatchAutoApi.as_view(), name="payout-batch-auto"),
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
        "payout-batches/<str:pk>/items/<str:item>/confirm",
        payout_apis.PayoutItemConfirmApi.as_view(),
        name="payout-item-confirm",
    ),
    path(
        "payout-batches/<str:pk>/items/<str:item>/fail",
        payout_apis.PayoutItemFailApi.as_view(),
        name="payout-item-fail",
    ),
    path(
        "participants/<str:external_id>/payout-method",
        payout_method_apis.PayoutMethodApi.as_view(),
        name="participant-payout-method",
    ),
    path(
        "payout-batches/<str:pk>/export.csv",
        payout_apis.PayoutBatchExportApi.as_view(),
        name="payout-batch-export",
    ),
]
