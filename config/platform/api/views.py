"""Base view for program-scoped endpoints: resolves `{program}` against the caller, then checks
the Django model permission the route declares (docs/OPERATIONS.md has the table)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from config.platform.api.auth import ApiKeyPrincipal, actor_of
from config.platform.api.pagination import CursorPagination
from config.platform.exceptions import NotFound
from config.platform.models import Program

logger = logging.getLogger(__name__)

# A method's permission: one "app_label.codename", or a tuple of them, any one of which will do
# (the admin lets either an operator or an approver reject a payout batch).
Required = str | tuple[str, ...]


def program_for(request: Request, slug: str) -> Program:
    """A key used on another program's path gets 404: never reveal that the program exists."""
    user = request.user
    if isinstance(user, ApiKeyPrincipal):
        if user.api_key.program.slug != slug:
            raise NotFound("No such program.")
        return user.api_key.program
    program = Program.objects.filter(slug=slug).first()
    if program is None:
        raise NotFound("No such program.")
    return program


def required_permission(view: Any, method: str) -> Required | None:
    """What `view` declares for `method` (HEAD is GET's); None when it declares nothing."""
    declared = getattr(view, "required_permissions", {})
    return declared.get("GET" if method == "HEAD" else method)


class HasRoutePermission(permissions.BasePermission):
    """The caller needs the Django model permission the view declares for the method, the one
    the admin requires for the same change: a staff user through their groups, an API key
    through its owner's. OPTIONS (the route's description) needs none. A method without a
    declaration is refused to everyone, superusers included, and
    tests/ledger/test_permissions.py fails on it."""

    message = "You do not have the permission this route requires."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method == "OPTIONS":
            return True
        required = required_permission(view, request.method or "")
        if required is None:
            logger.error("%s declares no permission for %s", type(view).__name__, request.method)
            return False
        wanted = (required,) if isinstance(required, str) else required
        user = request.user
        if any(user.has_perm(perm) for perm in wanted):  # type: ignore[union-attr]
            return True
        self.message = f"This route needs the permission {' or '.join(wanted)}."
        return False


class ProgramAPIView(APIView):
    program: Program
    # SPEC section 1: every list is cursor-paginated; the OpenAPI schema wraps `many` responses.
    pagination_class = CursorPagination
    # {"GET": "ledger.view_reward", "POST": "ledger.add_reward", ...}: every method a view
    # answers declares the permission it needs (HEAD uses GET's).
    required_permissions: ClassVar[dict[str, Required]] = {}
    route_permission_classes: ClassVar[list[type[permissions.BasePermission]]] = [
        HasRoutePermission
    ]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Authenticated (401), throttled (429), then the program (404, before any 403: another
        # program's key must not learn what a route would need), then the route's permission.
        super().initial(request, *args, **kwargs)
        self.program = program_for(request, kwargs["program"])
        for permission in (cls() for cls in self.route_permission_classes):
            if not permission.has_permission(request, self):
                self.permission_denied(
                    request,
                    message=getattr(permission, "message", None),
                    code=getattr(permission, "code", None),
                )
        if request.method in ("POST", "PUT", "PATCH"):
            # Parse the body now, also where the view ignores it: a body the parser refuses (NUL,
            # nesting deeper than 64 levels; config.platform.api.parsers) is 400 on every route, before
            # anything is looked up or changed.
            request.data  # noqa: B018

    @property
    def actor(self) -> str:
        return actor_of(self.request)
