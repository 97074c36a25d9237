from django.http import HttpRequest, JsonResponse
from django.urls import path


def status(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [path("", status)]
