"""
What django.db.backends.sqlite3.operations.DatabaseOperations answers when
the overlay's flush asks (see django_overlay.flush and .base).

Upstream deletes from every table of the flush set, and, with allow_cascade,
from every table that refers to them, found by its own _references_graph(),
which is used here too. A table with a trigger of any kind (SQLite's record
of a trigger does not say its event without parsing it, and a foreign key's
ON DELETE action can fire UPDATE triggers) has the whole flush set emptied
when it has rows, as upstream does.
"""

from itertools import chain

delete_triggers_sql = "SELECT 'trigger', tbl_name FROM sqlite_master WHERE type = 'trigger'"


def tables_flushed(self, tables, *, allow_cascade=False):
    if not allow_cascade or not tables:
        return list(tables)
    cascaded = set(chain.from_iterable(self._references_graph(table) for table in tables))
    return list(tables) + sorted(cascaded - set(tables))
