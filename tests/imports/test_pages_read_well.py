"""What the import pages say: no server paths."""

from __future__ import annotations

from django.conf import settings

from imports import services
from imports.models import ImportSource
from organizations.access import SYSTEM
from tests.credentials.helpers import ec_pem
from tests.imports.helpers import api_key_content, seal


def test_the_import_list_shows_no_server_path(client, bob, acme):
    services.pending_import_receive(organization=acme, data=seal(api_key_content(ec_pem())),
                                    file_name="carrier.json", source=ImportSource.DROP_FOLDER,
                                    actor=SYSTEM)
    client.force_login(bob)
    page = client.get("/o/acme/imports/").content.decode()
    assert "carrier.json" in page
    assert str(settings.KEYTURN_IMPORT_DROP_DIR) not in page
    assert str(settings.BASE_DIR) not in page
