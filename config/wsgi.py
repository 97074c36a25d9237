import os

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# gunicorn does not run Django's system checks (manage.py commands do): run them here, so a
# web worker with malformed keys stops at start instead of failing its first request.
_errors = [message for message in checks.run_checks() if message.is_serious()]
if _errors:
    raise ImproperlyConfigured("\n".join(str(message) for message in _errors))
