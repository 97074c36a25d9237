"""What the wizard and the import pages say: times with their zone, in the viewer's zone; an
API key's type and size when it was made in the portal; no server paths."""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings

from credentials.models import Kind
from credentials.services import current_version
from imports import services
from imports.models import ImportSource
from organizations.access import SYSTEM
from organizations.roles import Role
from tests.factories import make_credential, make_user
from tests.imports.helpers import api_key_content, ec_pem, seal


def test_it_shows_expiry_in_the_viewers_zone_with_the_zone(client, acme, unit, alice):
    berlin = make_user("berta", acme, Role.MANAGER, time_zone="Europe/Berlin")
    winter = dt.datetime(2027, 1, 15, 22, 1, tzinfo=dt.UTC)
    credential = make_credential(unit, Kind.API_KEY, name="Carrier API", actor=alice,
                                 valid_until=winter)
    client.force_login(berlin)
    page = client.get(f"/o/acme/credentials/{credential.pk}/change/").content.decode()
    assert re.search(r"<dt>Valid until</dt><dd>15 Jan 2027 23:01 CET</dd>", page)


def test_it_records_the_type_and_size_of_an_api_key_made_in_the_portal(unit, alice):
    credential = make_credential(unit, Kind.API_KEY, name="Carrier API", actor=alice)
    version = current_version(credential)
    assert version.public_key.startswith("ecdsa-sha2-nistp256 ")
    rows = dict(services.version_public_values(version, Kind.API_KEY))
    assert rows["Key"] == "ECDSA 256-bit"


def test_it_says_not_recorded_only_for_keys_saved_before_keyturn_kept_their_type(unit, alice):
    credential = make_credential(unit, Kind.API_KEY, name="Carrier API", actor=alice)
    version = current_version(credential)
    version.public_key = ""
    assert dict(services.version_public_values(version, Kind.API_KEY))["Key"] == "not recorded"


def test_the_import_list_shows_no_server_path(client, bob, acme):
    services.pending_import_receive(organization=acme, data=seal(api_key_content(ec_pem())),
                                    file_name="carrier.json", source=ImportSource.DROP_FOLDER,
                                    actor=SYSTEM)
    client.force_login(bob)
    page = client.get("/o/acme/imports/").content.decode()
    assert "carrier.json" in page
    assert str(settings.KEYTURN_IMPORT_DROP_DIR) not in page
    assert str(settings.BASE_DIR) not in page
