from django.http import JsonResponse

from .models import Row


def rows(request):
    """The rows, oldest first; a POST adds one first."""
    if request.method == "POST":
        Row.objects.create(worker=request.POST["worker"])
    return JsonResponse({"rows": list(Row.objects.order_by("id").values_list("worker", flat=True))})
