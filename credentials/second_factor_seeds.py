"""allauth's second factors keep their seeds (the TOTP key, the recovery codes' seed) sealed
with Keyturn's key ring, like every other secret at rest (settings.MFA_ADAPTER). It lives in
credentials because credentials.crypto is the one home of encryption."""

from __future__ import annotations

from allauth.mfa.adapter import DefaultMFAAdapter

from .crypto import MFA_SEED_AAD, key_ring


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return key_ring().encrypt(text, aad=MFA_SEED_AAD)

    def decrypt(self, encrypted_text: str) -> str:
        return key_ring().decrypt(encrypted_text, aad=MFA_SEED_AAD)
