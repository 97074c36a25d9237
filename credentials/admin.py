from django.contrib import admin

from .models import Connection, Credential, CredentialVersion, Rotation


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that change only through services, which check and audit what they do."""

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


class VersionInline(admin.TabularInline):
    model = CredentialVersion
    extra = 0
    can_delete = False
    fields = ["number", "state", "username", "client_id", "fingerprint", "valid_from",
              "valid_until"]
    readonly_fields = fields

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Credential)
class CredentialAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "business_unit", "is_active", "rotation_policy"]
    list_filter = ["kind", "is_active", "business_unit__organization"]
    search_fields = ["name", "versions__username", "versions__client_id"]
    inlines = [VersionInline]


@admin.register(CredentialVersion)
class CredentialVersionAdmin(ReadOnlyAdmin):
    list_display = ["credential", "number", "state", "fingerprint", "valid_from", "valid_until"]
    list_filter = ["state"]
    exclude = ["secret_ciphertext", "secret_digest"]


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "business_unit", "credential", "is_active"]
    list_filter = ["kind", "is_active"]


@admin.register(Rotation)
class RotationAdmin(ReadOnlyAdmin):
    list_display = ["credential", "mode", "state", "starts_at", "overlap_ends_at"]
    list_filter = ["state", "mode"]
