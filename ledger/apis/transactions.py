"""Ledger endpoints (SPEC §3). Thin: validate, call one service, render."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.idempotency import idempotent
from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import (
    ReasonSerializer,
    query_time,
    rendered,
    rendered_many,
    validated,
)
from config.platform.api.views import ProgramAPIView
from ledger import selectors
from ledger.booking.lines import PostingLine
from ledger.serializers import (
    AccountCreateSerializer,
    AccountSerializer,
    EntrySerializer,
    TransactionCreateSerializer,
    TransactionSerializer,
)
from ledger.services import transactions as txn_services
from ledger.services.accounts import account_create

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="1-255 printable ASCII characters; a retry with the same key and body replays "
    "the first response (header Idempotent-Replayed: true).",
)


class AccountListApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.add_account"}

    @extend_schema(
        request=AccountCreateSerializer,
        responses={201: AccountSerializer},
        description="Open an account. A duplicate code is 409 `already_exists`; a "
        "currency other than the program's is 400 `currency_mismatch`.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(AccountCreateSerializer, request.data)
        account = account_create(program=self.program, actor=self.actor, **data)
        return Response(selectors.account_balance(account), status=status.HTTP_201_CREATED)


class AccountDetailApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_account"}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "as_of", OpenApiTypes.DATETIME, description="posted balance at that time"
            )
        ],
        responses=AccountSerializer,
    )
    def get(self, request: Request, program: str, code: str) -> Response:
        account = selectors.account_get(program=self.program, code=code)
        as_of = None
        if "as_of" in request.query_params:
            as_of = query_time("as_of", request.query_params["as_of"])
        return Response(selectors.account_balance(account, as_of=as_of))


class AccountEntriesApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_posting"}

    @extend_schema(responses=EntrySerializer(many=True))
    def get(self, request: Request, program: str, code: str) -> Response:
        account = selectors.account_get(program=self.program, code=code)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(
            selectors.account_entries(account=account), request, view=self
        )
        return paginator.get_paginated_response(rendered_many(EntrySerializer, page))


class TransactionListApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.add_transaction"}

    @extend_schema(
        request=TransactionCreateSerializer,
        responses={201: TransactionSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        description="[idem] Book a balanced transaction. Unknown account: 400. Overdraft of a "
        "no_overdraft account: 409 `insufficient_funds`, nothing written.",
    )
    def post(self, request: Request, program: str) -> Response:
        def effect() -> Response:
            data = validated(TransactionCreateSerializer, request.data)
            txn = txn_services.transaction_create(
                program=self.program,
                postings=[PostingLine(**p) for p in data["postings"]],
                pending=data["pending"],
                description=data["description"],
                metadata=data["metadata"],
                actor=self.actor,
            )
            txn = selectors.transaction_get(program=self.program, pk=txn.pk)
            return Response(rendered(TransactionSerializer, txn), status=status.HTTP_201_CREATED)

        return idempotent(request, self.program, effect)


class TransactionDetailApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_transaction"}

    @extend_schema(responses=TransactionSerializer)
    def get(self, request: Request, program: str, pk: str) -> Response:
        txn = selectors.transaction_get(program=self.program, pk=pk)
        return Response(rendered(TransactionSerializer, txn))


class TransactionPostApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.add_transaction"}

    action = "post"

    @extend_schema(
        request=None,
        responses=TransactionSerializer,
        description="Resolve a pending transaction; a second post/void is 409 "
        "`invalid_transition`, and so is a transaction that belongs to a reward, a payout, a "
        "clawback or credits (it moves only through its owner).",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        pending = selectors.transaction_get(program=self.program, pk=pk)
        txn_services.transaction_move(
            program=self.program, txn=pending, step=self.action, actor=self.actor
        )
        txn = selectors.transaction_get(program=self.program, pk=pk)
        return Response(rendered(TransactionSerializer, txn))


class TransactionVoidApi(TransactionPostApi):
    action = "void"


class TransactionReverseApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.add_transaction"}

    @extend_schema(
        request=ReasonSerializer,
        responses={201: TransactionSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        description="[idem] Book a mirror transaction. A second reversal: 409 `already_reversed`. "
        "A transaction that belongs to a reward, a payout, a clawback or credits: 409 "
        "`invalid_transition` (it moves only through its owner).",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        def effect() -> Response:
            data = validated(ReasonSerializer, request.data)
            original = selectors.transaction_get(program=self.program, pk=pk)
            reversal = txn_services.transaction_move(
                program=self.program,
                txn=original,
                step="reverse",
                reason=data["reason"],
                actor=self.actor,
            )
            txn = selectors.transaction_get(program=self.program, pk=reversal.pk)
            return Response(rendered(TransactionSerializer, txn), status=status.HTTP_201_CREATED)

        return idempotent(request, self.program, effect)
