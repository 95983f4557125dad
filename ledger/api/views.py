"""Base view for program-scoped endpoints: resolves `{program}` against the caller."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.views import APIView

from ledger.api.auth import ApiKeyPrincipal, actor_of
from ledger.api.pagination import CursorPagination
from ledger.exceptions import NotFound
from ledger.models import Program


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


class ProgramAPIView(APIView):
    program: Program
    # SPEC section 1: every list is cursor-paginated; the OpenAPI schema wraps `many` responses.
    pagination_class = CursorPagination

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.program = program_for(request, kwargs["program"])

    @property
    def actor(self) -> str:
        return actor_of(self.request)
