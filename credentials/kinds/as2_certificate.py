"""AS2 certificates: an X.509 certificate and its private key. The certificate's end date is
the credential's expiry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms

from .. import crypto
from ..crypto import MaterialError
from ..material import Material, pem_text
from .base import CredentialKind, PublicSide
from .families import Family
from .forms import SOURCE_ENTER, SOURCE_GENERATE, MaterialForm, read_upload, source_field

if TYPE_CHECKING:
    from ..models import CredentialVersion

KEY = "as2_certificate"


def material(*, certificate: str | bytes, private_key: str) -> Material:
    private_key = pem_text(private_key, "private_key")
    info = crypto.parse_certificate(certificate or b"")
    crypto.check_key_matches_certificate(private_key, info.pem)
    return Material(kind=KEY, secret=private_key, fingerprint=info.fingerprint,
                    certificate=info)


def generated(*, common_name: str, days: int, now: datetime) -> Material:
    cert_pem, key_pem = crypto.generate_self_signed_certificate(common_name, days=days, now=now)
    return material(certificate=cert_pem, private_key=key_pem)


class As2CertificateForm(MaterialForm):
    source_choices = [(SOURCE_GENERATE, "Generate a self-signed certificate and key"),
                      (SOURCE_ENTER, "Upload a certificate and its private key")]
    source = source_field(source_choices)
    common_name = forms.CharField(
        required=False, max_length=64, label="Common name",
        help_text="For a generated certificate, e.g. as2.example.com.",
    )
    days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, initial=365, label="Valid for (days)",
        help_text="For a generated certificate: its end date, which is the credential's expiry.",
    )
    certificate = forms.FileField(
        required=False, label="Certificate",
        help_text="PEM or DER X.509 certificate. Its end date is the credential's expiry (one "
                  "after 30 Dec 9999, such as the “no expiry” 31 Dec 9999, counts as 30 Dec "
                  "9999 00:00 UTC).",
    )
    private_key = forms.FileField(
        required=False, label="Private key",
        help_text="The certificate's private key, one key in PEM (or OpenSSH) format, no "
                  "passphrase.",
    )

    def build(self, cleaned: dict[str, Any]) -> Material:
        if cleaned["source"] == SOURCE_GENERATE:
            common_name = (cleaned.get("common_name") or "").strip()
            if not common_name:
                raise MaterialError("common_name", "Give the certificate a common name.")
            return generated(common_name=common_name, days=cleaned.get("days") or 365,
                             now=self.now)
        certificate = read_upload(cleaned.get("certificate"), "certificate", "certificate")
        key_bytes = read_upload(cleaned.get("private_key"), "private_key", "private key")
        try:
            private_key = key_bytes.decode()
        except UnicodeDecodeError:
            raise MaterialError("private_key", "Upload the private key in PEM format.") from None
        return material(certificate=certificate, private_key=private_key)


class As2Certificate(CredentialKind):
    key = KEY
    label = "AS2 certificate"
    family = Family.AS2
    api_version_fields = ("cert_subject", "cert_issuer", "cert_serial", "fingerprint",
                          "cert_not_before")
    secret_noun = "certificate"
    secret_label = "Private key"
    form_class = As2CertificateForm
    payload_fields = ("certificate",)
    secret_field = "private_key"
    payload_pkcs12 = True
    expiry_from_material = True

    def parse(self, values: Mapping[str, Any], *, current_client_id: str = "") -> Material:
        return material(certificate=values.get("certificate", ""),
                        private_key=values.get("private_key", ""))

    def generate(self, *, current: CredentialVersion, name: str, days: int,
                 now: datetime) -> Material:
        common_name = crypto.certificate_common_name(current.certificate_pem) or name
        return generated(common_name=common_name, days=days, now=now)

    def verify(self, version: CredentialVersion, secret: str) -> None:
        crypto.check_key_matches_certificate(secret, version.certificate_pem)

    def example_values(self, *, identity: str, now: datetime, days: int = 365) -> dict[str, Any]:
        cert_pem, key_pem = crypto.generate_self_signed_certificate(identity, days=days, now=now)
        return {"certificate": cert_pem, "private_key": key_pem}

    def public_values(self, side: PublicSide) -> list[tuple[str, str]]:
        return [("Subject", side.cert_subject), ("Issuer", side.cert_issuer),
                ("Serial", side.cert_serial), ("Fingerprint", side.fingerprint or "not recorded")]

    def api_fields(self, version: CredentialVersion | None) -> dict[str, Any]:
        if version is None:
            return dict.fromkeys(("subject", "issuer", "serial", "fingerprint", "valid_from"))
        return {"subject": version.cert_subject or None, "issuer": version.cert_issuer or None,
                "serial": version.cert_serial or None, "fingerprint": version.fingerprint or None,
                "valid_from": version.cert_not_before}

    def to_payload(self, version: CredentialVersion, secret: str) -> dict[str, str]:
        return {"certificate": version.certificate_pem, "private_key": secret}
