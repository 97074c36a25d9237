"""The demo's partner contacts: someone at the partner on a connection and on an API client,
one of them in another time zone, so the demo's emails show both audiences' wording. Loaded
after credentials' demo (settings.KEYTURN_DEMO_STEPS); safe to run again."""

from __future__ import annotations

from datetime import datetime

from credentials.models import Connection, Credential
from organizations.access import SYSTEM

from .models import PartnerContact
from .services import ContactFields, partner_contact_add

DEMO_CONNECTION_CONTACTS = {
    "Acme partner upload": ContactFields(name="Dana Reyes", email="dana.reyes@acme.example",
                                         note="Runs Acme's nightly upload job.",
                                         time_zone="America/Chicago"),
    "Retailer AS2 profile": ContactFields(name="Retailer EDI desk",
                                          email="edi-desk@retailer.example"),
}
DEMO_CREDENTIAL_CONTACTS = {
    "Billing API": ContactFields(name="Sam Okafor", email="sam.okafor@billing.example",
                                 time_zone="Europe/London"),
}


def demo_contacts_load(now: datetime) -> None:
    for name, fields in DEMO_CONNECTION_CONTACTS.items():
        for connection in Connection.objects.filter(name=name):
            _add(connection, fields)
    for name, fields in DEMO_CREDENTIAL_CONTACTS.items():
        for credential in Credential.objects.filter(name=name):
            _add(credential, fields)


def _add(owner: Connection | Credential, fields: ContactFields) -> None:
    attached = {"connection" if isinstance(owner, Connection) else "credential": owner}
    if not PartnerContact.objects.filter(email=fields.email, **attached).exists():
        partner_contact_add(owner=owner, fields=fields, actor=SYSTEM)
