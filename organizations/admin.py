from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from organizations.access import client_ip

from .models import BusinessUnit, Invitation, Membership, Organization, User
from .services import user_disable


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(User)
class KeyturnUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Preferences", {"fields": ("time_zone",)}))
    inlines = [MembershipInline]

    def save_model(self, request: HttpRequest, obj: User, form: object, change: bool) -> None:
        disabling = change and not obj.is_active and "is_active" in form.changed_data  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)
        if disabling:  # the sessions of a disabled user end now, audited
            ended = user_disable(user=obj, actor=request.user, source_ip=client_ip(request))
            self.message_user(request, f"{obj} is disabled; {ended} session(s) ended.")


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(BusinessUnit)
class BusinessUnitAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "slug"]
    list_filter = ["organization"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role"]
    list_filter = ["organization", "role"]


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
