"""
A database backend the overlay does not know by name: SQLite's, under a vendor
name of its own. It answers the runner's questions as SQLite's backend does
(backends/base.py), by inheritance, and is treated as SQLite's is.
"""

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    vendor = "answering"
