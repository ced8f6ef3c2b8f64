from django.http import HttpResponse
from django.urls import path

from .models import Entity00


def count(request):
    return HttpResponse(str(Entity00.objects.count()))


urlpatterns = [path("count/", count)]
