"""`GET/PUT P/integrations/{provider}` (SPEC section 13)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.serializers import rendered, validated
from config.platform.api.views import ProgramAPIView
from rules.billing.selectors import integration_get
from rules.billing.serializers import IntegrationSerializer, IntegrationUpdateSerializer
from rules.billing.services.integrations import integration_put


class IntegrationApi(ProgramAPIView):
    required_permissions = {
        "GET": "billing.view_integration",
        "PUT": "billing.change_integration",
    }

    @extend_schema(
        responses=IntegrationSerializer,
        operation_id="integration_retrieve",
        description="The program's billing connector for `provider` (`stripe` or `paddle`): "
        "whether a signing secret is set (with a masked hint; the secret is never returned), "
        "the refund policy, the mapping and the webhook path to give the provider. 404 when "
        "none is configured.",
    )
    def get(self, request: Request, program: str, provider: str) -> Response:
        integration = integration_get(program=self.program, provider=provider)
        return Response(rendered(IntegrationSerializer, integration))

    @extend_schema(
        request=IntegrationUpdateSerializer,
        responses=IntegrationSerializer,
        operation_id="integration_update",
        description="Create or replace the billing connector for `provider`. The signing "
        "secret is encrypted at rest and never returned (left out, the stored one is kept; a "
        "new integration needs one). Audited as `billing.integration.created` / `.updated` "
        "(the secret appears only as its masked hint). Then point the provider's webhooks at "
        "`POST /hooks/{provider}/{program}` (docs/INTEGRATIONS.md).",
    )
    def put(self, request: Request, program: str, provider: str) -> Response:
        data = validated(IntegrationUpdateSerializer, request.data)
        integration, _ = integration_put(
            program=self.program,
            provider=provider,
            signing_secret=data.get("signing_secret"),
            refund_policy=data["refund_policy"],
            mapping=data.get("mapping") or {},
            active=data.get("active"),
            actor=self.actor,
        )
        return Response(rendered(IntegrationSerializer, integration))
