"""The portal's URLs plus one view that fails, to see the 500 page in a browser."""

from django.urls import path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as portal_urlpatterns


def fail(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path("failing-page/", fail), *portal_urlpatterns]
