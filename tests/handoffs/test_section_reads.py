"""The Details tab's hand-offs (selectors.handoffs_for_credential) are read by one prepared
query: what the ORM loads, newest first, SECTION_ROWS and one more, never a secret."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from credentials.models import Kind
from handoffs import selectors
from handoffs.models import Handoff
from handoffs.services import handoff_revoke
from tests.factories import make_credential
from tests.handoffs.helpers import make_handoff


def test_it_reads_the_newest_handoffs_as_the_orm_does(unit, alice, django_assert_num_queries):
    credential = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, name="Drop",
                                 expires_in=timedelta(days=90))
    other = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, name="Other")
    start = timezone.now() - timedelta(hours=1)
    made = [make_handoff(credential, alice, now=start + timedelta(seconds=n))[0]
            for n in range(selectors.SECTION_ROWS + 2)]
    make_handoff(other, alice)
    handoff_revoke(handoff=made[-1], actor=alice)
    with django_assert_num_queries(1):
        read = selectors.handoffs_for_credential(credential)
        states = [h.state_at(timezone.now()) for h in read]
        senders = {h.created_by.get_username() for h in read}
        revoker = read[0].revoked_by.get_username()
    expected = list(Handoff.objects.filter(credential=credential).order_by("-created_at")[
        :selectors.SECTION_ROWS + 1])
    assert [h.pk for h in read] == [h.pk for h in expected]
    for one, orm in zip(read, expected, strict=True):
        for field in Handoff._meta.concrete_fields:
            assert getattr(one, field.attname) == getattr(orm, field.attname), field.name
        assert one.version.pk == orm.version_id and one.version.number == orm.version.number
        assert "secret_ciphertext" not in one.version.__dict__
        assert "secret_digest" not in one.version.__dict__
    assert states[0] == "revoked" and set(states[1:]) == {"open"}
    assert senders == {"alice"} and revoker == "alice"
    assert read[1].revoked_by is None
