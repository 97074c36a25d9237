"""One PEM block per key: a rule of credentials.material that every way in shares (portal
forms, the API, imports)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from credentials import crypto
from credentials import material as m
from credentials.crypto import MaterialError
from credentials.kinds import api_key, as2_certificate, sftp_key


def _two_ssh_keys() -> str:
    return crypto.generate_ssh_key()[0] + crypto.generate_ssh_key()[0]


def _two_pem_keys() -> str:
    return crypto.generate_pem_private_key() + "\n" + crypto.generate_pem_private_key()


def _certificate_with(private_key: Callable[[str, str], str]) -> m.Material:
    cert_pem, key_pem = crypto.generate_self_signed_certificate("as2.example", days=30,
                                                                now=timezone.now())
    return as2_certificate.material(certificate=cert_pem,
                                    private_key=private_key(key_pem, cert_pem))


BUILDERS: list[tuple[str, Callable[[], m.Material]]] = [
    ("two OpenSSH keys", lambda: sftp_key.material(username="partner",
                                                   private_key=_two_ssh_keys())),
    ("two PEM keys for an API key", lambda: api_key.material(client_id="carrier", key_id="k1",
                                                             private_key=_two_pem_keys())),
    ("a key and its certificate in one file", lambda: _certificate_with(lambda k, c: k + c)),
    ("two certificate keys", lambda: _certificate_with(
        lambda k, c: k + crypto.generate_pem_private_key())),
]


@pytest.mark.parametrize(("what", "build"), BUILDERS, ids=[what for what, _ in BUILDERS])
def test_it_refuses_more_than_one_pem_block_for_a_key(what, build):
    with pytest.raises(MaterialError, match="holds 2 PEM blocks") as refused:
        build()
    assert refused.value.field == "private_key"


@pytest.mark.parametrize("tail", ["trailing words", "Bag Attributes\n    localKeyID: 01"])
def test_it_refuses_text_after_the_end_line(tail):
    key = crypto.generate_pem_private_key()
    with pytest.raises(MaterialError, match="nothing may follow"):
        api_key.material(client_id="carrier", key_id="k1", private_key=key + tail)


def test_it_still_takes_one_key_with_surrounding_blank_lines_and_crlf():
    key, info = crypto.generate_ssh_key()
    material = sftp_key.material(username="partner", private_key="\r\n\r\n" + key.replace(
        "\n", "\r\n") + "\r\n\r\n")
    assert material.fingerprint == info.fingerprint
    assert material.secret == key.strip() + "\n"
