"""The worker's email task: what django-q2 keeps of it in the database."""

import pickle
from datetime import timedelta

from django.core import mail
from django.utils import timezone
from django_q.models import Task

from credentials.models import Kind
from credentials.rotation.automatic import version_activate
from credentials.rotation.requests import rotation_schedule
from tests.factories import make_connection, make_credential, material_for


def test_it_keeps_no_credential_version_in_the_email_tasks_result(
        unit, alice, time_machine, django_capture_on_commit_callbacks):
    now = timezone.now().replace(microsecond=0)
    time_machine.move_to(now, tick=False)
    credential = make_credential(unit, Kind.API_CLIENT_SECRET, actor=alice, now=now)
    make_connection(credential, alice)
    start = now + timedelta(hours=1)
    rotation = rotation_schedule(credential=credential, material=material_for(credential.kind),
                                 actor=alice, starts_at=start, now=now)
    time_machine.move_to(start, tick=False)
    # The first use of the new secret (a token request) switches, and the worker sends the
    # "Rotation complete" email.
    with django_capture_on_commit_callbacks(execute=True):
        assert version_activate(version=rotation.to_version, now=start)
    assert {m.subject for m in mail.outbox} == {f"[Keyturn] Rotation complete: {credential.name}"}
    task = Task.objects.get(name="rotation emails")
    assert task.success and task.result == 1
    kept = pickle.dumps(task.result) + pickle.dumps(task.kwargs)
    for version in credential.versions.all():
        assert version.secret_ciphertext.encode() not in kept
