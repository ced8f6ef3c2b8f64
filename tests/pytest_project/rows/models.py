from django.db import models


class Row(models.Model):
    """A row written by a test."""

    worker = models.CharField(max_length=20)
