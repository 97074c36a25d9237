from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.services import account_event_record
from organizations.access import client_ip
from organizations.admin import (
    BusinessUnitAdmin,
    MembershipAdmin,
    MembershipInline,
    OrganizationAdmin,
)
from organizations.models import BusinessUnit, Membership, Organization, User

from .models import Invitation
from .services import (
    business_unit_admin_remove,
    business_unit_admin_save,
    membership_admin_remove,
    membership_admin_save,
    organization_admin_save,
    user_disable,
)


class AuditedMembershipInline:
    """For an admin page with the memberships inline (an organization's, a user's): each
    membership added, changed or deleted there is audited as on the members page."""

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)  # type: ignore[misc]
            return
        source_ip = client_ip(request)
        for membership in formset.save(commit=False):
            membership_admin_save(membership=membership, actor=request.user, source_ip=source_ip)
        for membership in formset.deleted_objects:
            membership_admin_remove(membership=membership, actor=request.user,
                                    source_ip=source_ip)


admin.site.unregister(Organization)


@admin.register(Organization)
class KeyturnOrganizationAdmin(AuditedMembershipInline, OrganizationAdmin):
    def save_model(self, request: HttpRequest, obj: Organization, form: object,
                   change: bool) -> None:
        organization_admin_save(organization=obj, actor=request.user,
                                source_ip=client_ip(request))


admin.site.unregister(BusinessUnit)


@admin.register(BusinessUnit)
class AuditedBusinessUnitAdmin(BusinessUnitAdmin):
    """Business units are set up here: each one added, changed or deleted is audited
    (members.services), and a unit stays in the organization it was added to."""

    def get_readonly_fields(self, request: HttpRequest,
                            obj: BusinessUnit | None = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), *(["organization"] if obj else [])]

    def save_model(self, request: HttpRequest, obj: BusinessUnit, form: object,
                   change: bool) -> None:
        business_unit_admin_save(unit=obj, actor=request.user, source_ip=client_ip(request))

    def delete_model(self, request: HttpRequest, obj: BusinessUnit) -> None:
        business_unit_admin_remove(unit=obj, actor=request.user, source_ip=client_ip(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[BusinessUnit]) -> None:
        for unit in queryset.select_related("organization"):
            business_unit_admin_remove(unit=unit, actor=request.user,
                                       source_ip=client_ip(request))


admin.site.unregister(Membership)


@admin.register(Membership)
class AuditedMembershipAdmin(MembershipAdmin):
    def save_model(self, request: HttpRequest, obj: Membership, form: object,
                   change: bool) -> None:
        membership_admin_save(membership=obj, actor=request.user, source_ip=client_ip(request))

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_admin_remove(membership=obj, actor=request.user, source_ip=client_ip(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("organization", "user"):
            membership_admin_remove(membership=membership, actor=request.user,
                                    source_ip=client_ip(request))


@admin.register(User)
class KeyturnUserAdmin(AuditedMembershipInline, UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Preferences", {"fields": ("time_zone",)}))
    inlines = [MembershipInline]

    def save_model(self, request: HttpRequest, obj: User, form: object, change: bool) -> None:
        disabling = change and not obj.is_active and "is_active" in form.changed_data  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)
        if disabling:  # the sessions of a disabled user end now, audited
            ended = user_disable(user=obj, actor=request.user, source_ip=client_ip(request))
            self.message_user(request, f"{obj} is disabled; {ended} session(s) ended.")

    def user_change_password(self, request: HttpRequest, id: str,
                             form_url: str = "") -> HttpResponse:
        """A password set here (or password sign-in turned off) is audited as a change on the
        profile page is, in the same transaction."""
        with transaction.atomic():
            user = self.get_object(request, unquote(id))
            before = user.password if user is not None else None
            response = super().user_change_password(request, id, form_url)
            if user is not None:
                user.refresh_from_db(fields=["password"])
                if user.password != before:
                    account_event_record(user=user, action="user.password_change",
                                         source_ip=client_ip(request), details={"via": "admin"},
                                         actor=request.user)
        return response


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read-only: invitations are made, re-sent and revoked on the members page (audited)."""

    list_display = ["email", "organization", "role", "invited_by", "sent_at", "expires_at",
                    "accepted_at", "revoked_at"]
    list_filter = ["organization", "role"]
    exclude = ["token_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
