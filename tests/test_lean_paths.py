"""The health check and the JSON API skip the session, user, message and allauth middleware
(config.middleware.LeanPathMiddleware) and answer with the same security headers as pages."""

from __future__ import annotations

import pytest
from django.test import override_settings

SECURITY_HEADERS = ("Content-Security-Policy", "Permissions-Policy", "X-Content-Type-Options",
                    "Referrer-Policy", "X-Frame-Options", "Cross-Origin-Opener-Policy")


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/healthz", 200),
    ("post", "/authentication/token", 401),
    ("get", "/api/v1/headless/sftp/credentials/", 401),
    ("get", "/api/v1/openapi.json", 200),
])
def test_it_answers_lean_paths_with_every_security_header_and_no_session(
        client, method, path, status):
    client.cookies["sessionid"] = "a-session-that-would-be-loaded"
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert all(response.has_header(name) for name in SECURITY_HEADERS)
    assert not hasattr(response.wsgi_request, "session")
    assert not hasattr(response.wsgi_request, "user")
    assert response["Content-Length"] == str(len(response.content))


@pytest.mark.django_db
def test_it_serves_pages_and_unknown_paths_through_the_whole_chain(client):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and hasattr(page.wsgi_request, "session")
    slashless = client.get("/api/v1/headless/sftp/credentials")  # CommonMiddleware's slash
    assert slashless.status_code == 301
    assert slashless["Location"] == "/api/v1/headless/sftp/credentials/"


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=3600)
def test_it_still_redirects_lean_paths_to_https_and_sends_hsts(client):
    assert client.get("/healthz")["Location"] == "https://testserver/healthz"
    secure = client.get("/healthz", secure=True)
    assert secure.status_code == 200 and secure["Strict-Transport-Security"].startswith(
        "max-age=3600")


@pytest.mark.django_db
def test_it_refuses_a_too_large_lean_request_before_reading_it(client):
    response = client.generic("POST", "/authentication/token", b"x",
                              CONTENT_LENGTH=str(2 * 1024 * 1024))
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
