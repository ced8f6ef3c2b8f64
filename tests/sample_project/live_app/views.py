"""
A page that lists the rows and a form that writes one, for tests in a
browser; the form saves in an atomic block, as views that write often do, so
that the server's thread takes its savepoint on the shared connection.
"""

from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join

from .forms import RowForm
from .models import Row


def row_list(request):
    rows = format_html_join("", "<li>{}</li>", ((row.text,) for row in Row.objects.order_by("pk")))
    return page(
        "Rows",
        format_html('<ul id="rows">{}</ul><p id="count">{}</p>', rows, Row.objects.count()),
    )


def new_row(request):
    form = RowForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
        return redirect("row-list")
    return page(
        "New row",
        format_html(
            '<form method="post">{}<button type="submit" id="save">Save</button></form>',
            form.as_p(),
        ),
    )


def page(title, body):
    return HttpResponse(
        format_html(
            '<!DOCTYPE html><html><head><title>{}</title><link rel="stylesheet" href="{}">'
            "</head><body>{}</body></html>",
            title,
            static("live_app/rows.css"),
            body,
        )
    )
