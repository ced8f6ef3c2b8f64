from django.core.cache import cache
from django.http import HttpResponse
from django.urls import include, path


def cached(request, key):
    """What the live server's thread finds in the cache under key."""
    return HttpResponse(repr(cache.get(key)))


urlpatterns = [path("cached/<key>", cached), path("", include("live_app.urls"))]
