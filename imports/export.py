"""Exporting a credential as a managed credential payload (docs/import-format.md): its current
version sealed with a password, for `manage.py export_credential`. Audited as
credential.export with what was exported and the payload's hash, never the secret."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.services import audit_record
from credentials.errors import CredentialError
from credentials.models import Credential
from credentials.services import current_version, version_secret, version_summary
from organizations.access import Actor, require_perm

from . import payload


@sensitive_variables("password", "secret", "content")
def credential_export(
    *,
    credential: Credential,
    password: str,
    actor: Actor,
    via: str = "manage.py export_credential",
    now: datetime | None = None,
    kdf: dict[str, int] | None = None,
) -> bytes:
    """The credential's current version as a payload sealed with `password`; audited as
    credential.export (what was exported and the payload's hash, never the secret)."""
    now = now or timezone.now()
    require_perm(actor, credential.organization, credential.manage_perm)
    version = current_version(credential)
    if version is None:
        raise CredentialError("This credential has no current version to export.")
    secret = version_secret(version)
    content: dict[str, object] = {
        "kind": credential.kind,
        "name": credential.name,
        "business_unit": credential.business_unit.slug,
        "material": credential.kind_spec.to_payload(version, secret),
        "exported_at": now.isoformat(),
        "source": f"keyturn credential {credential.pk} version {version.number}",
    }
    if version.valid_until is not None and not credential.kind_spec.expiry_from_material:
        content["valid_until"] = version.valid_until.isoformat()
    data = payload.seal(content, password, **(kdf or {}))
    with transaction.atomic():
        audit_record(
            action="credential.export", actor=actor,
            organization=credential.business_unit.organization, target=credential,
            details={**version_summary(version), "sha256": payload.sha256_hex(data), "via": via},
        )
    return data
