from django.db import models


class Row(models.Model):
    """A row written by a test, by a form in the browser, or by a thread."""

    text = models.CharField(max_length=100)
