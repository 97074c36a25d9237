import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.models import Credential
from credentials.rotation.requests import rotation_schedule
from credentials.services import credential_set_active
from credentials.status import (
    Badge,
    StatusFacts,
    badge_counts,
    badge_sets,
    badges_for,
    credential_badges,
    indexed_status_q,
    status_q,
    with_status,
)
from tests.factories import make_connection, make_credential, material_for

EXPIRIES = {
    "never": None,
    "far": timedelta(days=90),
    "soon": timedelta(days=10),
    "edge-of-soon": timedelta(days=14),
    "expired": timedelta(days=-1),
}
COMBINATIONS = list(itertools.product([True, False], [True, False], EXPIRIES, [True, False]))


def expected_badges(enabled, in_use, expiry, scheduled):
    badges = [Badge.ACTIVE if enabled and in_use else Badge.INACTIVE]
    if expiry == "expired":
        badges.append(Badge.EXPIRED)
    elif expiry in {"soon", "edge-of-soon"}:
        badges.append(Badge.EXPIRING_SOON)
    if scheduled:
        badges.append(Badge.ROTATION_SCHEDULED)
    return badges


@pytest.mark.parametrize(("enabled", "in_use", "expiry", "scheduled"), COMBINATIONS)
def test_it_decides_the_badges_of_every_combination(enabled, in_use, expiry, scheduled):
    now = timezone.now()
    offset = EXPIRIES[expiry]
    facts = StatusFacts(enabled, in_use, now + offset if offset is not None else None, scheduled)
    assert badges_for(facts, now) == expected_badges(enabled, in_use, expiry, scheduled)


def test_it_counts_expiry_to_the_second(time_machine):
    now = timezone.now()
    facts = StatusFacts(True, True, now, False)
    assert Badge.EXPIRED in badges_for(facts, now)
    assert Badge.EXPIRING_SOON in badges_for(facts, now - timedelta(seconds=1))


def test_it_agrees_between_python_and_sql_for_every_combination(unit, alice, time_machine):
    now = timezone.now()
    time_machine.move_to(now - timedelta(days=2), tick=False)
    made = {}
    for enabled, in_use, expiry, scheduled in COMBINATIONS:
        offset = EXPIRIES[expiry]
        credential = make_credential(
            unit, name=f"{enabled}-{in_use}-{expiry}-{scheduled}", actor=alice,
            valid_until=now + offset if offset is not None else None,
            now=now - timedelta(days=2),
        )
        make_connection(credential, alice, active=in_use)
        if not in_use and enabled:
            make_connection(credential, alice, active=False)  # inactive connections don't count
        if scheduled:
            rotation_schedule(credential=credential, actor=alice,
                              starts_at=now + timedelta(days=1),
                              material=material_for(credential.kind))
        if not enabled:
            credential_set_active(credential=credential, active=False, actor=alice)
        made[credential.pk] = expected_badges(enabled, in_use, expiry, scheduled)
    time_machine.move_to(now, tick=False)

    annotated = with_status(Credential.objects.all())
    for credential in annotated:
        assert credential_badges(credential, now) == made[credential.pk], credential.name
    for badge in Badge:
        in_sql = set(annotated.filter(status_q(badge, now)).values_list("pk", flat=True))
        in_python = {pk for pk, badges in made.items() if badge in badges}
        assert in_sql == in_python, badge
        indexed = Credential.objects.filter(indexed_status_q(badge, now))  # no annotations
        assert set(indexed.values_list("pk", flat=True)) == in_python, badge
    sizes = {name: credentials.count()
             for name, credentials in badge_sets(Credential.objects.all(), now).items()}
    assert badge_counts(sizes) == {"total": len(made)} | {
        badge.value: sum(badge in badges for badges in made.values()) for badge in Badge}


def test_it_costs_one_query_to_annotate_any_number_of_credentials(
    unit, alice, django_assert_num_queries
):
    for _ in range(5):
        make_credential(unit)
    with django_assert_num_queries(1):
        credentials = list(with_status(Credential.objects.all()))
    assert len(credentials) == 5
