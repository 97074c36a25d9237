"""Error answers that the browser tests cannot reach: a refused host name (answered before
most middleware runs) and a failure while the database itself is down."""

from __future__ import annotations

from django.db import OperationalError
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from config.views import server_error


def test_it_answers_a_refused_host_name_in_the_portal_with_the_security_headers(
        client, settings, db):
    settings.ALLOWED_HOSTS = ["keyturn.example.com"]
    response = client.get("/accounts/login/", HTTP_HOST="attacker.example")
    assert response.status_code == 400
    assert b"Bad request" in response.content
    assert b'id="branding"' in response.content
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_still_answers_a_failure_in_the_portal_look_when_the_database_is_down(db):
    def database_down():
        raise OperationalError("could not connect to server")

    request = RequestFactory().get("/o/acme/")
    request.user = SimpleLazyObject(database_down)
    response = server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert 'id="branding"' in html
    assert "could not connect" not in html
