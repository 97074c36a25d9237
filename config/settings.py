"""Keyturn settings, read once from the environment (see .env.example)."""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
ENV_FILE = env.str("KEYTURN_ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE)

DEBUG = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("KEYTURN_DATA_DIR", default=str(BASE_DIR / "data")))
# A trial run on this machine (`make run` writes KEYTURN_LOCAL=true into its .env): the
# portal's address follows PORT, it answers on loopback names and emails become files. Any
# other deployment must name its address, host names and mail server: with DEBUG off a
# missing one stops start-up instead of quietly pointing emails at localhost.
LOCAL_RUN = env.bool("KEYTURN_LOCAL", default=False)
LOCAL_DEFAULTS = LOCAL_RUN or DEBUG
PORT = env.int("PORT", default=8000)


def required_unless_local(name: str, local_default: str, purpose: str) -> str:
    value = env.str(name, default="").strip()
    if value:
        return value
    if LOCAL_DEFAULTS:
        return local_default
    raise ImproperlyConfigured(
        f"{name} is not set: {purpose} Production has no default for it (only a local run, "
        "KEYTURN_LOCAL=true, or DEBUG=true has one). See .env.example and the README's "
        "Deploying section."
    )


try:
    SECRET_KEY = env.str("SECRET_KEY")
    # Newest first: "id:base64-32-byte-key,id:key,...". The first encrypts, all decrypt.
    # Checked at start by a system check (credentials.checks).
    KEYTURN_ENCRYPTION_KEYS = env.str("KEYTURN_ENCRYPTION_KEYS")
    # Key of the keyed hash that verifies API client secrets (any long random string).
    KEYTURN_HMAC_KEY = env.str("KEYTURN_HMAC_KEY")
except ImproperlyConfigured as exc:
    raise ImproperlyConfigured(
        f"{exc}. Copy .env.example to .env, or run `make run` once to generate a local .env."
    ) from None
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long.")

ALLOWED_HOSTS = [host.strip() for host in required_unless_local(
    "ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]",
    "the host names the portal answers to, comma-separated.",
).split(",") if host.strip()]
SITE_URL = required_unless_local(
    "SITE_URL", f"http://127.0.0.1:{PORT}",
    "the portal's public address, which every link in emails is built from.",
).rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # --- Accounts (issue 15): django-allauth's sign-in, second factors, single sign-on and
    # sessions; Keyturn's own part (re-authentication, policy, profile) is the accounts app.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.usersessions",
    # --- end of accounts
    "django_q",
    "organizations",
    "audit",
    "accounts",
    "members",
    "credentials",
    "partners",
    "notifications",
    "api",
    "sftpd",
    "imports",
    "handoffs",
]

MIDDLEWARE = [
    # First, so that every answer carries the headers, even one a later middleware refuses.
    "config.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The health check and the JSON API (views marked config.middleware.lean) are served from
    # here: they read no session, user or message, and static files are none of them.
    "config.middleware.LeanPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Before anything reads the body (the CSRF check does): oversized requests get 413 at once.
    "config.middleware.RequestSizeLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "organizations.middleware.UserTimezoneMiddleware",
    # --- Accounts (issue 15): allauth's flows (re-authentication resumes the request it
    # suspended), the sessions list's "last seen", then the organization's second-factor rule.
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.SessionActivityMiddleware",
    "accounts.middleware.SecondFactorPolicyMiddleware",
    # --- end of accounts
]

ROOT_URLCONF = "config.urls"
# The largest request body Keyturn reads (the biggest legitimate one is a 256 KiB import
# payload uploaded as a form). Bigger requests are refused with 413 from their declared
# length, before any of the body is read; a proxy in front should refuse them too
# (nginx: client_max_body_size 1m). Every upload fits in memory, so none is written to disk.
KEYTURN_MAX_REQUEST_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = KEYTURN_MAX_REQUEST_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = KEYTURN_MAX_REQUEST_BYTES
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
# Refused forms (a missing or stale CSRF token) answer in the portal's look, like 400-500.
CSRF_FAILURE_VIEW = "config.views.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "organizations.context_processors.current_organization",
                "imports.context_processors.pending_imports",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'keyturn.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Each process keeps its database connection between requests instead of opening one per
# request (opening one, with SQLite's pragmas, cost more than the whole of a /healthz); a
# connection is checked before a request reuses it, so one the server dropped is replaced.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, which also creates the database's folder (owner-only) on first use.
    DATABASES["default"]["ENGINE"] = "config.sqlite"
    # WAL and a busy timeout let the web process and the worker share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20,
         "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "organizations.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Accounts (issue 15) ------------------------------------------------------------------
# Sign-in, second factors, single sign-on, password reset and re-authentication are
# django-allauth's; what Keyturn decides about them is in the accounts app and the README's
# Accounts section. The admin signs in through the same pages (config/urls.py).
# allauth's and Django's backends, reading each request's user with a prepared query
# (accounts.backends). A session remembers its backend's path: one begun under the libraries'
# own paths, before these, is signed out once.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.AuthenticationBackend",
    # The invitation sign-up signs its new user in directly (members.views).
    "accounts.backends.ModelBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"  # nobody signs up: invitations only
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False  # a reset asked for an unknown address sends nothing
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Keyturn: "
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# A password reset link works once (it carries a hash of the password it replaces) and for
# this long.
KEYTURN_PASSWORD_RESET_MINUTES = env.int("KEYTURN_PASSWORD_RESET_MINUTES", default=60)
PASSWORD_RESET_TIMEOUT = 60 * KEYTURN_PASSWORD_RESET_MINUTES
# Failed sign-ins: KEYTURN_LOGIN_FAILURES failures with one user name (known or not, the same
# answer) within KEYTURN_LOCKOUT_MINUTES lock that name until the first of them is that old;
# a separate, much higher limit per address slows guessing across names. The second-factor
# step counts its failures per user the same way. See the README's Accounts section.
KEYTURN_LOGIN_FAILURES = env.int("KEYTURN_LOGIN_FAILURES", default=5)
KEYTURN_LOGIN_FAILURES_PER_ADDRESS = env.int("KEYTURN_LOGIN_FAILURES_PER_ADDRESS", default=100)
KEYTURN_LOCKOUT_MINUTES = env.int("KEYTURN_LOCKOUT_MINUTES", default=15)
ACCOUNT_RATE_LIMITS = {
    "login_failed": (f"{KEYTURN_LOGIN_FAILURES_PER_ADDRESS}/{KEYTURN_LOCKOUT_MINUTES}m/ip,"
                     f"{KEYTURN_LOGIN_FAILURES}/{KEYTURN_LOCKOUT_MINUTES}m/key"),
    # Successful sign-ins are not limited: one address may be a whole office behind a proxy.
    "login": "",
    "reset_password": "20/m/ip,3/15m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "reauthenticate": "10/m/user",
}
# Re-authentication ("sudo mode"): a proof of identity (sign-in, password, second factor or a
# fresh single sign-on) younger than this lets the user reveal, rotate, import, ... (the
# accounts.reauthentication decorator); allauth's own pages (adding or removing a second
# factor) follow the same rule (accounts.adapters.AccountAdapter).
KEYTURN_REAUTHENTICATION_MINUTES = env.int("KEYTURN_REAUTHENTICATION_MINUTES", default=10)
ACCOUNT_REAUTHENTICATION_TIMEOUT = 60 * KEYTURN_REAUTHENTICATION_MINUTES
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "Keyturn"
MFA_ADAPTER = "credentials.second_factor_seeds.MFAAdapter"  # seeds sealed with the key ring
MFA_RECOVERY_CODE_COUNT = 10
# WebAuthn needs a secure context: HTTPS, or http://localhost for a local run.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = LOCAL_DEFAULTS
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_ONLY = False
# Single sign-on with OpenID Connect: off unless all three are set.
KEYTURN_OIDC_ISSUER = env.str("KEYTURN_OIDC_ISSUER", default="").strip().rstrip("/")
KEYTURN_OIDC_CLIENT_ID = env.str("KEYTURN_OIDC_CLIENT_ID", default="").strip()
KEYTURN_OIDC_CLIENT_SECRET = env.str("KEYTURN_OIDC_CLIENT_SECRET", default="").strip()
KEYTURN_OIDC_NAME = env.str("KEYTURN_OIDC_NAME", default="single sign-on").strip()
_oidc = [KEYTURN_OIDC_ISSUER, KEYTURN_OIDC_CLIENT_ID, KEYTURN_OIDC_CLIENT_SECRET]
if any(_oidc) and not all(_oidc):
    raise ImproperlyConfigured(
        "Single sign-on needs KEYTURN_OIDC_ISSUER, KEYTURN_OIDC_CLIENT_ID and "
        "KEYTURN_OIDC_CLIENT_SECRET together (or none of them). See .env.example."
    )
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {
    "OAUTH_PKCE_ENABLED": True,
    "APPS": [{
        "provider_id": "sso",
        "name": KEYTURN_OIDC_NAME,
        "client_id": KEYTURN_OIDC_CLIENT_ID,
        "secret": KEYTURN_OIDC_CLIENT_SECRET,
        "settings": {"server_url": KEYTURN_OIDC_ISSUER, "fetch_userinfo": True,
                     "scope": ["openid", "email", "profile"]},
    }] if all(_oidc) else [],
}}
# The sessions list shows each session's address, browser and last activity; the middleware
# dates activity at most once every few minutes per session, not on every request.
USERSESSIONS_TRACK_ACTIVITY = False
KEYTURN_SESSION_ACTIVITY_SECONDS = 300
# Rate limits live in the cache: the database's by default (shared by every process), Redis
# when REDIS_URL is set. `migrate` creates the cache table (accounts' AppConfig).
# --- end of accounts --------------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Email: EMAIL_URL, such as smtp+tls://user:pass@host:587 (required in production). A local
# run without it writes each email as a file under DATA_DIR/mail (one .eml per message).
if env.str("EMAIL_URL", default="").strip():
    EMAIL_CONFIG = env.email_url("EMAIL_URL")
    if EMAIL_CONFIG.get("EMAIL_FILE_PATH"):
        # django-environ drops the leading slash of filemail:///var/mail/keyturn.
        EMAIL_CONFIG["EMAIL_FILE_PATH"] = "/" + EMAIL_CONFIG["EMAIL_FILE_PATH"].lstrip("/")
    vars().update(EMAIL_CONFIG)
else:
    required_unless_local("EMAIL_URL", "", "the mail server reminder and rotation emails go "
                          "through, such as smtp+tls://user:password@mail.example.com:587.")
    EMAIL_BACKEND = "notifications.backends.FolderEmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "mail")
# Seconds before a silent SMTP server counts as failed (the send is retried by the sweep).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
SITE_HOST = urlsplit(SITE_URL).hostname or "localhost"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"Keyturn <keyturn@{SITE_HOST}>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Reminder and rotation emails (README, Partner contacts): the sender's name (the address is
# DEFAULT_FROM_EMAIL's), where replies go (default: the business unit's contacts) and how many
# days the opt-out link of an email works.
KEYTURN_EMAIL_FROM_NAME = env.str("KEYTURN_EMAIL_FROM_NAME", default="Keyturn").strip()
KEYTURN_EMAIL_REPLY_TO = env.list("KEYTURN_EMAIL_REPLY_TO", default=[])
KEYTURN_EMAIL_OPT_OUT_DAYS = env.int("KEYTURN_EMAIL_OPT_OUT_DAYS", default=60)

# HTTPS: on unless the deployment says it serves plain HTTP (the local `make run` does).
KEYTURN_HTTPS = env.bool("KEYTURN_HTTPS", default=not LOCAL_RUN)
SESSION_COOKIE_SECURE = KEYTURN_HTTPS
CSRF_COOKIE_SECURE = KEYTURN_HTTPS
SECURE_SSL_REDIRECT = KEYTURN_HTTPS
SECURE_HSTS_SECONDS = 31536000 if KEYTURN_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = KEYTURN_HTTPS
SECURE_HSTS_PRELOAD = KEYTURN_HTTPS
if env.bool("KEYTURN_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 8
# Django's database sessions, read with a prepared query (config.sessions).
SESSION_ENGINE = "config.sessions"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# django-q2: the ORM broker by default; Redis when REDIS_URL is set.
# `retry` must exceed `timeout`, or a slow task is handed to a second worker while it runs.
Q_TIMEOUT = env.int("Q_TIMEOUT", default=120)
Q_CLUSTER = {
    "name": "keyturn",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 60,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 500,
    "label": "Tasks",
}
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1
# --- Accounts (issue 15): the cache holds the sign-in rate limits, so every process must
# share it (a per-process memory cache would let each gunicorn worker count on its own).
CACHES = {"default": (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL else
    {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "keyturn_cache"}
)}
# --- end of accounts

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# The scheduled pass (credentials.sweep), every minute, in this order: finish what was
# interrupted, switch what is due, tidy versions by time, prepare automatic rotations (so a
# 30-day reminder can say "new credentials ready"), then send what is due.
KEYTURN_SWEEP_STEPS = [
    "credentials.rotation.steps.rotations_recover_stuck",
    "credentials.rotation.steps.rotations_run_due",
    "credentials.rotation.steps.versions_end_overlaps",
    "credentials.rotation.steps.versions_record_expiries",
    "credentials.rotation.steps.rotations_prepare_automatic_due",
    "notifications.services.reminders_send_due",
    "notifications.services.notifications_send_unsent",
    "handoffs.services.handoffs_record_expiries",
]
# What `manage.py demo_data` loads after credentials' own demo (credentials.demo), in order:
# functions of the moment the demo is loaded.
KEYTURN_DEMO_STEPS = [
    "partners.demo.demo_contacts_load",
]
# How many credentials' due work one batch of the pass does (one claim, one load and bulk
# writes per step and batch); the schedule's task hands each batch to the cluster as a task.
KEYTURN_SWEEP_BATCH_SIZE = env.int("KEYTURN_SWEEP_BATCH_SIZE", default=100)
# The django-q2 schedules, installed after every `migrate` (credentials.schedules); interval
# schedules in UTC, unaffected by daylight-saving changes.
KEYTURN_SCHEDULES = {
    "keyturn-sweep": {"func": "credentials.tasks.sweep", "minutes": 1},
    # Managed credential payloads dropped in KEYTURN_IMPORT_DROP_DIR become pending imports.
    "keyturn-import-drop-folder": {"func": "imports.tasks.scan_drop_folder", "minutes": 1},
}

KEYTURN_SFTP_HOST = env.str("KEYTURN_SFTP_HOST", default="127.0.0.1")
KEYTURN_SFTP_PORT = env.int("KEYTURN_SFTP_PORT", default=2222)
# Managed credential payloads dropped into <dir>/<organization slug>/ become pending imports.
KEYTURN_IMPORT_DROP_DIR = Path(
    env.str("KEYTURN_IMPORT_DROP_DIR", default="") or DATA_DIR / "imports"
)
# Uploads land in <root>/<organization slug>/<unit slug>/.
KEYTURN_SFTP_ROOT = Path(env.str("KEYTURN_SFTP_ROOT", default="") or DATA_DIR / "sftp")
# The host name partners connect to, shown in the portal (the bind address may differ).
KEYTURN_SFTP_PUBLIC_HOST = env.str("KEYTURN_SFTP_PUBLIC_HOST", default="") or SITE_HOST
# Seconds a connection test waits for each step (connect, SSH banner, authentication).
KEYTURN_CONNECTION_TEST_TIMEOUT = env.float("KEYTURN_CONNECTION_TEST_TIMEOUT", default=10.0)
