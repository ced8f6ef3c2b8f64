"""
What django.db.backends.base.operations.BaseDatabaseOperations answers when
the overlay's flush asks which tables to empty (see django_overlay.flush).

The default is MySQL's, MariaDB's and SQLite's: upstream's own sql_flush()
over the tables that have rows. Emptying a table without rows
changes nothing there, with one exception: a DELETE trigger of a table with
rows may write into another table of the flush set, and whether upstream
empties that table again depends on the order of its statements. So when a
table with rows has such a trigger, the whole flush set is emptied, as
upstream does.
"""

# Tables asked "has rows?" in one statement; SQLite allows 500 SELECTs in one
# compound statement.
PROBE_BATCH = 200

rows_probe_sql = "SELECT 'rows', %s{suffix} WHERE EXISTS (SELECT 1 FROM {table})"
"""
One SELECT of probe()'s: ('rows', its parameter, the table's name) if table
has a row, else nothing. {suffix} is the backend's bare_select_suffix.
"""

delete_triggers_sql = None
"""
SQL selecting ('trigger', table name) for each table with a trigger that a
DELETE fires, on backends whose flush deletes rows; None where it truncates.
"""


def existing_table_names(self):
    """The database's tables, not views: introspection.table_names(include_views=False)."""
    return self.connection.introspection.table_names(include_views=False)


def tables_flushed(self, tables, *, allow_cascade=False):
    """The tables that sql_flush(tables, allow_cascade=...) empties."""
    return list(tables)


def sql_flush_with_rows(self, style, tables):
    """
    Statements that leave `tables` as sql_flush(style, tables,
    reset_sequences=False) leaves them, emptying only the tables with rows.
    """
    found = probe(self, tables, self.delete_triggers_sql)
    with_rows = found.get("rows", set())
    if with_rows & found.get("trigger", set()):
        return self.sql_flush(style, tables, reset_sequences=False)
    return self.sql_flush(
        style, [table for table in tables if table in with_rows], reset_sequences=False
    )


def probe(ops, tables, first_sql=None, first_params=()):
    """
    {kind: set of table names}: 'rows' for the tables that have rows, and
    whatever first_sql's (kind, table name) rows say, in one round trip for
    up to PROBE_BATCH tables.
    """
    found = {}
    suffix = ops.connection.features.bare_select_suffix
    batches = [tables[start : start + PROBE_BATCH] for start in range(0, len(tables), PROBE_BATCH)]
    if first_sql and not batches:
        batches = [[]]
    with ops.connection.cursor() as cursor:
        for number, batch in enumerate(batches):
            selects = [
                ops.rows_probe_sql.format(table=ops.quote_name(table), suffix=suffix)
                for table in batch
            ]
            params = list(batch)
            if first_sql and number == 0:
                selects.insert(0, first_sql)
                params[:0] = first_params
            cursor.execute(" UNION ALL ".join(selects), params)
            for kind, table in cursor.fetchall():
                found.setdefault(kind, set()).add(table)
    return found
