"""Who still uses what (credentials.usage): uses are written at most once a minute per
version, first uses at once; the rest waits in the process's buffer for the next write."""

from datetime import timedelta

from django.utils import timezone

from credentials.models import CredentialVersion, UseChannel, VersionUse
from credentials.services import current_version
from credentials.usage import (
    SOURCE_LIMIT,
    version_recently_used,
    version_use_record,
)
from tests.factories import make_credential


def _use(version, address="198.51.100.7", channel=UseChannel.SFTP_LOGIN):
    version_use_record(version=version, channel=channel, address=address, now=timezone.now())


def test_it_writes_a_first_use_at_once_and_the_next_ones_a_minute_later(
        unit, time_machine, django_assert_num_queries):
    start = timezone.now().replace(microsecond=0)
    time_machine.move_to(start, tick=False)
    version = current_version(make_credential(unit))
    _use(version)
    use = VersionUse.objects.get()
    assert (use.count, use.first_used_at, use.first_source) == (1, start, "198.51.100.7")
    assert CredentialVersion.objects.get(pk=version.pk).last_used_at == start
    time_machine.move_to(start + timedelta(seconds=20), tick=False)
    with django_assert_num_queries(0):  # within the minute: kept in memory, no query
        _use(version, "198.51.100.8")
        time_machine.shift(timedelta(seconds=1))
        _use(version, "198.51.100.9")
    assert VersionUse.objects.get().count == 1
    time_machine.move_to(start + timedelta(seconds=61), tick=False)
    _use(version, "198.51.100.7")
    use = VersionUse.objects.get()
    assert use.count == 4
    assert use.first_used_at == start
    assert use.last_used_at == start + timedelta(seconds=61)
    assert use.last_source == "198.51.100.7"
    assert [s["address"] for s in use.sources] == ["198.51.100.7", "198.51.100.9",
                                                    "198.51.100.8"]
    assert use.channels == {"sftp_login": 4}
    assert CredentialVersion.objects.get(pk=version.pk).last_used_at == use.last_used_at


def test_it_keeps_the_last_ten_distinct_sources(unit, time_machine):
    start = timezone.now()
    version = current_version(make_credential(unit))
    for n in range(15):
        time_machine.move_to(start + timedelta(minutes=n), tick=False)
        _use(version, f"203.0.113.{n}")
    use = VersionUse.objects.get()
    assert use.count == 15
    assert len(use.sources) == SOURCE_LIMIT
    assert use.sources[0]["address"] == "203.0.113.14"


def test_it_counts_the_last_24_hours_by_the_hour(unit, time_machine):
    start = timezone.now()
    version = current_version(make_credential(unit))
    time_machine.move_to(start, tick=False)
    _use(version)
    time_machine.move_to(start + timedelta(hours=30), tick=False)
    for _ in range(3):
        time_machine.shift(timedelta(minutes=2))
        _use(version, "192.0.2.1")
    now = timezone.now()
    loaded = CredentialVersion.objects.select_related("use").get(pk=version.pk)
    recent = version_recently_used(loaded, now)
    assert (recent.count, recent.last_source, recent.sources) == (3, "192.0.2.1", ["192.0.2.1"])
    assert loaded.use.count == 4
    assert version_recently_used(loaded, now + timedelta(hours=25)) is None


def test_a_refused_login_does_not_date_the_last_successful_use(unit):
    version = current_version(make_credential(unit))
    _use(version, channel=UseChannel.SFTP_LOGIN_OLD_USERNAME)
    assert VersionUse.objects.get().count == 1
    assert CredentialVersion.objects.get(pk=version.pk).last_used_at is None
