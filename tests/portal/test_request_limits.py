"""Request bodies over KEYTURN_MAX_REQUEST_BYTES are refused with 413 from their declared
length, before any of the body is read. The test client's payload refuses to be read past
what the test gives it, so a server that tried to read the declared body would fail here.
Below the limit each form's own file limit answers on its field
(tests/imports/test_import_pages.py)."""

from __future__ import annotations

from django.test import Client

from imports.models import PendingImport

BOUNDARY = "keyturn-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def _declared_post(client: Client, url: str, size: int, content_type: str = MULTIPART):
    start = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
             f"filename=\"big.bin\"\r\n\r\n").encode()
    return client.generic("POST", url, data=start + b"x" * 1024, content_type=content_type,
                          CONTENT_LENGTH=str(size))


def test_it_refuses_an_oversized_anonymous_post_without_reading_it(client, db):
    response = _declared_post(client, "/accounts/login/", 286 * 1024 * 1024)
    assert response.status_code == 413
    html = response.content.decode()
    assert "Too large" in html and 'id="branding"' in html
    assert "1024 KiB" in html
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_it_refuses_an_oversized_upload_in_the_portal_look(client, alice, acme):
    client.force_login(alice)
    response = _declared_post(client, "/o/acme/imports/upload/", 10 * 1024 * 1024)
    assert response.status_code == 413
    assert "Signed in as <strong>alice</strong>" in response.content.decode()
    assert not PendingImport.objects.exists()


def test_it_refuses_an_oversized_api_body_in_the_apis_shape(client, db):
    response = _declared_post(client, "/authentication/token", 2 * 1024 * 1024,
                              content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert response["Cache-Control"] == "no-store"
