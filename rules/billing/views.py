"""The public webhook receivers: `POST /hooks/{provider}/{program}` (SPEC section 13).

No login and no CSRF: the provider's signature is the authentication. Verify, store, answer
200; processing happens after commit (services.receiving). Errors are problem+json: 404 for an
unknown provider, program or an unconfigured integration, 400 for a signature that does not
verify (bad, stale, or made with another secret), and nothing is written for either."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.platform.api.errors import problem_response
from config.platform.exceptions import DomainError
from rules.billing.services.receiving import delivery_receive


@csrf_exempt
@require_POST
def billing_hook(request: HttpRequest, provider: str, program: str) -> JsonResponse:
    try:
        delivery, created = delivery_receive(
            provider=provider, program_slug=program, body=request.body, headers=request.headers
        )
    except DomainError as exc:
        return problem_response(exc)
    return JsonResponse({"received": True, "duplicate": not created, "delivery": delivery.pk})
