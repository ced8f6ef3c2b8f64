"""
Code under test that does its database work in a thread pool, as reports and
fan-out jobs do. Each task closes its thread's connections when done, as
Django asks of threads it did not start.
"""

from concurrent.futures import ThreadPoolExecutor

from django.db import connections, transaction

from .models import Row

WORKERS = 4


def in_threads(function, arguments):
    def task(argument):
        try:
            return function(argument)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(task, arguments))


def add_rows(texts):
    def add(text):
        with transaction.atomic():
            return Row.objects.create(text=text).pk

    return in_threads(add, texts)


def count_rows(times=WORKERS):
    return in_threads(lambda _: Row.objects.count(), range(times))


class Dropped(Exception):
    pass


def add_rows_dropping(texts):
    """Add each text in an atomic block that rolls back if it starts with "drop"."""

    def add(text):
        try:
            with transaction.atomic():
                Row.objects.create(text=text)
                if text.startswith("drop"):
                    raise Dropped(text)
        except Dropped:
            pass

    in_threads(add, texts)
