"""Settings for the test suite: fixed keys, fast hashing, email in memory."""

import os

os.environ["KEYTURN_ENV_FILE"] = ""
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 50)
os.environ.setdefault(
    "KEYTURN_ENCRYPTION_KEYS", "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
)
os.environ.setdefault("KEYTURN_HMAC_KEY", "test-hmac-key-" + "y" * 40)
os.environ.setdefault("DATABASE_URL", "sqlite://:memory:")
os.environ.setdefault("KEYTURN_HTTPS", "false")
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("EMAIL_URL", "memorymail://")
# Playwright's sync API runs an event loop in the test thread; the ORM calls made by the
# test itself are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from .settings import *  # noqa: E402,F403
from .settings import PASSWORD_HASHERS as PRODUCTION_PASSWORD_HASHERS  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PRODUCTION_PASSWORD_HASHERS]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
# One process runs the tests (the live server is a thread of it): a memory cache is shared
# by all, and tests/conftest.py empties it before each test (the rate limits live there).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
