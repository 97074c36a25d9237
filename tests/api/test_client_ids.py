"""Client ids and HTTP Basic: the user and password are form-url-decoded (RFC 6749 section
2.3.1), new client ids may not hold ":", and ids that hold one from before that rule still
authenticate when sent encoded, and keep their id across rotations."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import quote, quote_plus

import pytest
from django.utils import timezone

from credentials import material as m
from credentials.crypto import MaterialError
from credentials.kinds import api_client_secret, api_key
from credentials.models import CredentialVersion, VersionState
from credentials.rotation.automatic import rotation_prepare_automatic
from credentials.services import credential_create
from organizations.access import SYSTEM
from tests.api.helpers import ApiClient, make_api_client

TOKEN = "/authentication/token"
NEW = "/api/credentials/new"
WHOAMI = "/api/v1/whoami"
# Entered secrets (not generated ones) may hold anything form-url-encoding changes.
ODD_SECRET = "s3cret+plus%2Fpercent%FFnot-utf8:colon space-0123456789abcdef"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _made_before_the_colon_rule(client: ApiClient, client_id: str) -> ApiClient:
    """The client with an id holding ":", as an older Keyturn accepted: written to the rows
    directly, since no way in accepts such an id any longer."""
    CredentialVersion.objects.filter(credential=client.credential).update(client_id=client_id)
    return ApiClient(client.credential, client_id, client.secret)


@pytest.fixture
def odd_client(unit):
    material = api_client_secret.material(client_id="erp.prod_1", client_secret=ODD_SECRET)
    credential = credential_create(
        business_unit=unit, kind="api_client_secret", name="ERP", material=material,
        valid_until=None, actor=SYSTEM, now=timezone.now(),
    )
    return ApiClient(credential, "erp.prod_1", ODD_SECRET)


def test_it_form_url_decodes_the_basic_user_and_password(client, odd_client):
    encoded = _basic(quote_plus(odd_client.client_id), quote_plus(ODD_SECRET))
    assert client.post(TOKEN, HTTP_AUTHORIZATION=encoded).status_code == 200
    # quote() writes a space as %20 rather than +: both decode to a space.
    encoded = _basic(quote(odd_client.client_id, safe=""), quote(ODD_SECRET, safe=""))
    assert client.post(TOKEN, HTTP_AUTHORIZATION=encoded).status_code == 200


def test_it_still_accepts_a_secret_sent_as_is_by_clients_that_do_not_encode(client,
                                                                             odd_client):
    # Many client libraries (curl -u, requests) send the secret unencoded: "+" and "%2F"
    # would decode to something else, so the secret as sent is tried too.
    assert client.post(TOKEN, HTTP_AUTHORIZATION=odd_client.basic).status_code == 200
    assert client.post(TOKEN, HTTP_AUTHORIZATION=_basic(
        odd_client.client_id, ODD_SECRET.replace("+", " "))).status_code == 401


def test_it_refuses_basic_credentials_that_do_not_decode_to_text(client, api_client):
    for user, password in ((f"{api_client.client_id}%FF", api_client.secret),
                           (api_client.client_id, f"{api_client.secret}%ED%A0%80")):
        response = client.post(TOKEN, HTTP_AUTHORIZATION=_basic(user, password))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


def test_it_authenticates_a_colon_client_id_from_before_the_rule_when_encoded(client, unit):
    legacy = _made_before_the_colon_rule(make_api_client(unit, client_id="partner-prod"),
                                         "partner:prod")
    encoded = _basic(quote_plus(legacy.client_id), legacy.secret)
    response = client.post(TOKEN, HTTP_AUTHORIZATION=encoded)
    assert response.status_code == 200, response.content
    whoami = client.get(WHOAMI,
                        HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    assert whoami.json()["client_id"] == "partner:prod"
    # Unencoded, Basic splits at the first colon: user "partner", password "prod:<secret>".
    assert client.post(TOKEN, HTTP_AUTHORIZATION=legacy.basic).status_code == 401
    body = json.dumps({"client_id": legacy.client_id, "client_secret": legacy.secret})
    assert client.post(TOKEN, body, content_type="application/json").status_code == 200


def test_it_hands_a_colon_client_id_its_rotated_secret_and_keeps_the_id(client, unit):
    legacy = _made_before_the_colon_rule(
        make_api_client(unit, client_id="partner-prod", expires_in=timedelta(days=20)),
        "partner:prod")
    encoded = _basic(quote_plus(legacy.client_id), legacy.secret)
    assert client.get(NEW, HTTP_AUTHORIZATION=encoded).status_code == 404
    # Automatic rotation regenerates the secret and keeps the credential's id.
    assert rotation_prepare_automatic(credential=legacy.credential) is not None
    response = client.get(NEW, HTTP_AUTHORIZATION=encoded)
    assert response.status_code == 200, response.content
    new = response.json()
    assert new["clientId"] == "partner:prod"
    pending = legacy.credential.versions.get(state=VersionState.PENDING)
    assert pending.client_id == "partner:prod"
    activated = client.post(TOKEN, HTTP_AUTHORIZATION=_basic(quote_plus(new["clientId"]),
                                                             new["clientSecret"]))
    assert activated.status_code == 200
    pending.refresh_from_db()
    assert pending.state == VersionState.CURRENT


@pytest.mark.parametrize("build", [
    lambda client_id: api_client_secret.material(client_id=client_id),
    lambda client_id: api_key.material(client_id=client_id, key_id="k-1",
                                private_key=m.crypto.generate_pem_private_key()),
])
def test_it_refuses_a_colon_in_a_new_client_id_and_keeps_an_existing_one(build):
    with pytest.raises(MaterialError) as refused:
        build("partner:prod")
    assert refused.value.field == "client_id"
    assert "Client IDs are 3 to 200 letters, digits, . _ or -" in refused.value.message
    kept = api_client_secret.material(client_id="partner:prod", current_client_id="partner:prod")
    assert kept.client_id == "partner:prod"
    with pytest.raises(MaterialError):  # only the credential's own id is kept
        api_client_secret.material(client_id="partner:test", current_client_id="partner:prod")
    assert m.CLIENT_ID_RE.match(m.generate_client_id())


def test_it_decodes_basic_credentials_for_new_credentials_too(client, odd_client):
    encoded = _basic(quote_plus(odd_client.client_id), quote_plus(ODD_SECRET))
    assert client.get(NEW, HTTP_AUTHORIZATION=encoded).status_code == 404  # authenticated
    wrong = _basic(quote_plus(odd_client.client_id), quote_plus(ODD_SECRET + "x"))
    assert client.get(NEW, HTTP_AUTHORIZATION=wrong).status_code == 401
