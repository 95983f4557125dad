"""Routes under /api/v1/programs/<slug>/ for the program itself and its referral links."""

from django.urls import path

from rules.links import apis

urlpatterns = [
    path("", apis.ProgramSlashApi.as_view(), name="program-detail"),
    path("analytics", apis.AnalyticsApi.as_view(), name="analytics"),
    path(
        "participants/<str:external_id>/links",
        apis.ReferralLinkListApi.as_view(),
        name="participant-links",
    ),
    path(
        "participants/<str:external_id>/coupons",
        apis.CouponListApi.as_view(),
        name="participant-coupons",
    ),
]
