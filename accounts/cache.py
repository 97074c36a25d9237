"""The database cache's table, created by every `migrate` (the sign-in rate limits live in
the cache; settings.CACHES), so that `make run` and a deployment need no extra step."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command


def cache_table_create(using: str = "default", **kwargs: Any) -> None:
    backend = settings.CACHES["default"]["BACKEND"]
    if backend == "django.core.cache.backends.db.DatabaseCache":
        call_command("createcachetable", database=using, verbosity=0)
