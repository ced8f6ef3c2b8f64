"""An app outside flush_app's tests' available_apps, with a table that refers to flush_app's."""

from django.db import models


class Fan(models.Model):
    author = models.ForeignKey("flush_app.Author", models.CASCADE, null=True)
    name = models.CharField(max_length=50)
