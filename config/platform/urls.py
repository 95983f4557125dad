"""Platform endpoints under a program: webhook endpoints (docs/WEBHOOKS.md) and the audit log
(SPEC §8)."""

from django.urls import path

from config.platform.apis import audit as audit_apis
from config.platform.webhooks import apis as webhook_apis

urlpatterns = [
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
    path("audit-log", audit_apis.AuditLogApi.as_view(), name="audit-log"),
]
