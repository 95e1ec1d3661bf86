"""A Django ASGI app in one module: settings configured in code, one view, no project dir."""

from __future__ import annotations

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="longwire-tests-not-secret",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    INSTALLED_APPS=[],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    USE_TZ=True,
)
django.setup()


async def hello(request: HttpRequest, name: str) -> HttpResponse:
    response = JsonResponse({
        "hello": name,
        "method": request.method,
        "q": request.GET.get("q"),
        "body": request.body.decode(),
        "x_test": request.headers.get("x-test"),
        "scheme": request.scheme,
        "path": request.path,
        "path_info": request.path_info,
        "script_name": request.META.get("SCRIPT_NAME", ""),
    })
    response["x-framework"] = "django"
    return response


urlpatterns = [path("hello/<str:name>", hello)]

from django.core.asgi import get_asgi_application  # noqa: E402 - needs the settings above

app = get_asgi_application()
