from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from organizations.access import client_ip
from organizations.admin import MembershipInline
from organizations.models import User

from .models import Invitation
from .services import user_disable


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
