"""
SQLite through a driver that declares DB-API threadsafety 0, as a driver
whose connections must stay in the thread that opened them would: the
overlay's live-server classes must refuse to share its connections.
"""

import sqlite3
import types

from django.db.backends.sqlite3 import base

driver = types.ModuleType("unshareable_sqlite3")
driver.__dict__.update(
    {name: value for name, value in vars(sqlite3).items() if not name.startswith("__")}
)
driver.threadsafety = 0


class DatabaseWrapper(base.DatabaseWrapper):
    Database = driver
