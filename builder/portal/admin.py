"""The portal in the operators' console: the approval queue (applications, approve or reject,
audited), portal partners (invite a participant: a welcome sign-in link to their email) and the
partner emails of the outbox (what was sent, what waits for a retry and why; send again)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from builder.portal.models import EmailOutbox, PartnerApplication, PortalPartner
from builder.portal.services import (
    LinkBase,
    application_approve,
    application_reject,
    email_send_again,
    partner_invite,
)
from config.platform.admin.common import actor_of


def _base(request: HttpRequest) -> LinkBase:
    return LinkBase(origin=f"{request.scheme}://{request.get_host()}")


@admin.register(PartnerApplication)
class PartnerApplicationAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "program", "status", "created_at", "decided_by")
    list_filter = ("status", "program")
    search_fields = ("email", "name")
    actions = ["approve", "reject"]
    readonly_fields = [f.name for f in PartnerApplication._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # people apply on the portal; operators invite participants instead

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the queue is a record: reject, don't delete

    @admin.action(
        description="Approve: create the partner and email a sign-in link", permissions=["change"]
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[PartnerApplication]) -> None:
        done = [
            application_approve(application=a, actor=actor_of(request), base=_base(request))
            for a in queryset
        ]
        approved = [a.email for a in done if a.decided_by == actor_of(request)]
        self.message_user(
            request,
            f"Approved {len(approved)} application(s): {', '.join(approved) or 'none'}.",
            messages.SUCCESS,
        )

    @admin.action(description="Reject (no email is sent)", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[PartnerApplication]) -> None:
        done = [application_reject(application=a, actor=actor_of(request)) for a in queryset]
        rejected = [a.email for a in done if a.status == PartnerApplication.Status.REJECTED]
        self.message_user(
            request,
            f"Rejected {len(rejected)} application(s): {', '.join(rejected) or 'none'}.",
            messages.SUCCESS,
        )


@admin.register(PortalPartner)
class PortalPartnerAdmin(admin.ModelAdmin):
    list_display = ("external_id", "program", "email", "portal_access")
    list_filter = ("program",)
    search_fields = ("external_id", "attributes__email")
    list_select_related = ("program", "partner_account")
    actions = ["invite"]
    fields = ("program", "external_id", "referral_code", "attributes")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # participants are created by the API, events and the portal's signup

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Email")
    def email(self, obj: PortalPartner) -> str:
        return str(obj.attributes.get("email", "—"))

    @admin.display(description="Portal access", boolean=True)
    def portal_access(self, obj: PortalPartner) -> bool:
        return hasattr(obj, "partner_account")

    @admin.action(description="Invite to the portal (email a sign-in link)", permissions=["change"])
    def invite(self, request: HttpRequest, queryset: QuerySet[PortalPartner]) -> None:
        sent: list[str] = []
        skipped: list[str] = []
        for participant in queryset.select_related("program"):
            ok = partner_invite(
                participant=participant, actor=actor_of(request), base=_base(request)
            )
            (sent if ok else skipped).append(participant.external_id)
        self.message_user(
            request, f"Sent a sign-in invitation to {len(sent)}: {', '.join(sent) or 'none'}."
        )
        if skipped:
            self.message_user(
                request,
                f"No email attribute, not invited: {', '.join(skipped)}.",
                messages.WARNING,
            )


@admin.register(EmailOutbox)
class EmailOutboxAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "beneficiary", "program", "status", "attempts", "to")
    list_filter = ("status", "kind", "program")
    search_fields = ("beneficiary", "to", "object_key")
    list_select_related = ("program",)
    actions = ["send_again"]
    readonly_fields = [f.name for f in EmailOutbox._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by the notifications of the money domain

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Send again (failed or skipped emails)", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[EmailOutbox]) -> None:
        queued = [
            f"{e.get_kind_display()} to {e.beneficiary}"
            for e in queryset
            if e.status != EmailOutbox.Status.PENDING
            and email_send_again(email=e, actor=actor_of(request)).status
            == EmailOutbox.Status.PENDING
        ]
        self.message_user(
            request,
            f"Queued {len(queued)} email(s) to send again: {', '.join(queued) or 'none'}.",
            messages.SUCCESS,
        )
