from django.db import models


class Row(models.Model):
    """A row written by a test."""

    worker = models.CharField(max_length=20)


class Unwritten(models.Model):
    """A table no test writes: a flush of only what was written leaves it alone."""

    note = models.CharField(max_length=20)
