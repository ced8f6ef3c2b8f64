from django.urls import path

from . import views

urlpatterns = [
    path("rows/", views.row_list, name="row-list"),
    path("rows/new/", views.new_row, name="new-row"),
]
