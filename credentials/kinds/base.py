"""The contract of a kind of credential: everything Keyturn knows about one kind, in one class
(in the spirit of healthchecks' transports). Pages, forms, the rotation engine, imports, the
APIs and the SFTP endpoint ask the kind instead of keeping tables by kind.

One name per value throughout: the names parse() takes are the names of the kind's form
fields, of the material in an import/export payload, and of the field a MaterialError names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..material import Material
from .families import FAMILIES, FamilyInfo
from .forms import MaterialForm

if TYPE_CHECKING:
    from ..models import CredentialVersion


class PublicSide(Protocol):
    """What new material (Material) and a stored version (CredentialVersion) both show of
    themselves without their secret."""

    username: str
    client_id: str
    key_id: str
    public_key: str
    fingerprint: str
    cert_subject: str
    cert_issuer: str
    cert_serial: str


class CredentialKind(ABC):
    """One kind of credential. A subclass sets the class attributes and implements the
    abstract methods; one instance of it is registered in credentials.kinds.KINDS."""

    key: ClassVar[str]
    """The value stored in Credential.kind: a member of credentials.models.Kind."""
    label: ClassVar[str]
    """Its name for people, as credentials.models.Kind gives it ("SFTP password")."""
    family: ClassVar[str]
    """Its Family: the unit's tab, the permission to manage it, its headless API resource."""
    secret_noun: ClassVar[str]
    """The secret in sentences: "the new password works now"."""
    secret_label: ClassVar[str]
    """The secret's label on the detail page (masked) and on the Reveal page."""
    form_class: ClassVar[type[MaterialForm]]
    """The form that takes new material, entered or generated (create and rotate)."""
    payload_fields: ClassVar[tuple[str, ...]]
    """The public values of its material in an import/export payload."""
    secret_field: ClassVar[str]
    """The secret's name in its form, in payloads and for parse()."""
    payload_pkcs12: ClassVar[bool] = False
    """Whether a payload may carry its material as one PKCS#12 bundle instead, which gives
    parse() its `certificate` and `private_key` (imports.payload opens it)."""
    automatic_by_default: ClassVar[bool] = False
    """New credentials rotate automatically, and expire after their lifetime unless given an
    expiry."""
    expiry_from_material: ClassVar[bool] = False
    """The material carries its own expiry (a certificate's end date): no expiry is asked
    for, and an export writes none."""
    sftp_login: ClassVar[str | None] = None
    """How an SFTP login uses it ("password" or "publickey"), at the built-in endpoint and on
    outbound connections; None for kinds that do not log in to SFTP. A rotation may switch
    a credential between kinds that both log in to SFTP (every SFTP connection takes both)."""
    api_auth_type: ClassVar[str | None] = None
    api_version_fields: ClassVar[tuple[str, ...]]
    """The columns of its current version that api_fields reads: the headless API loads
    these (and never a secret) and hands api_fields a record of them."""
    """Its `auth_type` in the headless SFTP API (PASSWORD, KEY), for kinds it writes."""
    token_client: ClassVar[bool] = False
    """Its secret obtains tokens at POST /authentication/token, and its integrations fetch a
    rotation's new secret at GET /api/credentials/new."""
    change_wizard_url: ClassVar[str | None] = None
    """The URL name of a Change Credential wizard for it (the Manage menu links to it)."""

    # --- Derived -------------------------------------------------------------------------

    @property
    def family_info(self) -> FamilyInfo:
        return FAMILIES[self.family]

    @property
    def manage_perm(self) -> str:
        return self.family_info.manage_perm

    @property
    def multipart(self) -> bool:
        """Whether its form uploads files."""
        return any(field.widget.needs_multipart_form
                   for field in self.form_class.base_fields.values())

    def __repr__(self) -> str:
        return f"<CredentialKind {self.key}>"

    # --- Material ------------------------------------------------------------------------

    @abstractmethod
    def parse(self, values: Mapping[str, Any], *, current_client_id: str = "") -> Material:
        """Checked material from values named as payload_fields and secret_field (entered in
        a form, sent to the API, or read from an import payload); MaterialError names the
        field at fault. `current_client_id`: the id of the credential it would replace, which
        a kind with client ids lets it keep."""

    @abstractmethod
    def generate(self, *, current: CredentialVersion, name: str, days: int,
                 now: datetime) -> Material:
        """New material with the identity of `current` (same user name, client id, subject)
        for an automatic rotation. `name` is the credential's, `days` its lifetime."""

    @abstractmethod
    def verify(self, version: CredentialVersion, secret: str) -> None:
        """Before a version goes live: does its decrypted `secret` still fit its public side?
        Raises RotationStepError or MaterialError with a readable reason."""

    @abstractmethod
    def example_values(self, *, identity: str, now: datetime, days: int = 365) -> dict[str, Any]:
        """Values parse() accepts, for a fresh example named after `identity` (a user name,
        a client id, a common name); a certificate is valid for `days` from `now`. The demo
        data and the tests build every kind from these."""

    def example(self, *, identity: str, now: datetime, days: int = 365) -> Material:
        return self.parse(self.example_values(identity=identity, now=now, days=days))

    # --- What may be shown ---------------------------------------------------------------

    @abstractmethod
    def public_values(self, side: PublicSide) -> list[tuple[str, str]]:
        """Labelled public values of new material or a stored version, for previews (the
        managed import's old against new). Never the secret."""

    @abstractmethod
    def api_fields(self, version: CredentialVersion | None) -> dict[str, Any]:
        """Its own fields in its family's headless API resource, from its current version
        (None: it has none), of which it reads only api_version_fields. Times as datetimes;
        the API writes them."""

    def to_payload(self, version: CredentialVersion, secret: str) -> dict[str, str]:
        """Its material in an export payload: payload_fields from the version's public
        columns of the same name, and the secret."""
        return {**{name: getattr(version, name) for name in self.payload_fields},
                self.secret_field: secret}
