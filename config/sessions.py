"""Django's database sessions (kept on the server: the profile lists them and ends them),
whose read at the start of every signed-in request is a query compiled once per process.

Set as SESSION_ENGINE. Everything but load() is Django's: saving, expiry dates, cycling keys,
deleting. load() answers what Django's does: the session's data while its expiry date is in
the future, nothing (and no key, so a new session starts) once it has passed or was deleted."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.db import router
from django.utils import timezone

from config.prepared import PreparedQuery

_LIVE_SESSION_DATA = PreparedQuery(
    lambda p: Session.objects.filter(
        session_key=p["key"], expire_date__gt=p["now"],
    ).values_list("session_data"),
    key=Session._meta.get_field("session_key"),
    now=Session._meta.get_field("expire_date"),
)


class SessionStore(DatabaseSessionStore):
    def load(self) -> dict[str, Any]:
        rows = _LIVE_SESSION_DATA.rows(key=self.session_key, now=timezone.now(),
                                       using=router.db_for_read(Session))
        if not rows:
            self._session_key = None
            return {}
        return self.decode(rows[0][0])
