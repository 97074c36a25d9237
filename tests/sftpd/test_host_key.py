"""The endpoint's host key: generated once, kept encrypted in the database, the same after a
restart."""

import pytest

from credentials import crypto
from credentials.crypto import KeyRingError
from sftpd.models import HostKey
from sftpd.services import host_key_create, host_key_private
from tests.sftpd.helpers import can_log_in, start_server


def test_it_keeps_the_host_key_across_restarts(sftp_server, sleeps, unit, alice):
    first = sftp_server.fingerprint
    sftp_server.stop()
    again = start_server(sleeps)
    try:
        assert again.fingerprint == first
        assert HostKey.objects.count() == 1
        # A client that pinned the published key before the restart still trusts the server.
        assert not can_log_in(again, "nobody", password="whatever-password")
    finally:
        again.stop()


def test_it_stores_the_private_key_encrypted_and_bound_to_its_row(sftp_server):
    host_key = HostKey.objects.get()
    assert "PRIVATE KEY" not in host_key.private_key_ciphertext
    assert host_key_private(host_key).startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert crypto.ssh_fingerprint(host_key.public_key) == host_key.fingerprint
    other = host_key_create()
    other.private_key_ciphertext = host_key.private_key_ciphertext
    with pytest.raises(KeyRingError):
        host_key_private(other)
    assert "secret" not in repr(host_key) and "***" in repr(host_key)


def test_it_presents_the_newest_host_key_after_a_restart(sftp_server, sleeps):
    old = sftp_server.fingerprint
    new = host_key_create()
    sftp_server.stop()
    again = start_server(sleeps)
    try:
        assert again.fingerprint == new.fingerprint != old
    finally:
        again.stop()
