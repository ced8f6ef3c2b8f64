"""
Models with foreign keys (one of them many-to-many) for the tests of the
flush after each TransactionTestCase test (tests/test_fast_flush.py).
"""

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=50)


class Tag(models.Model):
    name = models.CharField(max_length=50)


class Book(models.Model):
    author = models.ForeignKey(Author, models.CASCADE)
    title = models.CharField(max_length=50)
    tags = models.ManyToManyField(Tag)


class Audit(models.Model):
    """Written by the PostgreSQL triggers of migration 0002."""

    note = models.CharField(max_length=100)
