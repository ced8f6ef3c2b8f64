from django.db import models


class TaggedRow(models.Model):
    """A row written by a test, tagged with the process that wrote it."""

    pid = models.IntegerField()
