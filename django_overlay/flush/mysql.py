"""
What django.db.backends.mysql.operations.DatabaseOperations answers when the
overlay's flush asks (see django_overlay.flush and .base).

Upstream's flush deletes from every table with foreign key checks off; a
DELETE from an empty table fires nothing, and with the checks off no foreign
key cascades, so deleting from the tables with rows alone leaves what
upstream leaves, unless a DELETE trigger of one of them writes rows (then the
whole flush set is emptied, as upstream does).

The tables are listed by SHOW FULL TABLES, which reads the table types from
the data dictionary, rather than by upstream's query on
information_schema.tables, which also fetches each table's comment: half the
time on 150 tables (see docs/benchmarks.md).
"""

# Reading a table's first row costs less than an EXISTS subquery: 1.0
# against 1.5 ms for 150 empty tables (docs/benchmarks.md).
rows_probe_sql = "(SELECT 'rows', %s FROM {table} LIMIT 1)"

delete_triggers_sql = (
    "SELECT 'trigger', event_object_table FROM information_schema.triggers "
    "WHERE event_object_schema = DATABASE() AND event_manipulation = 'DELETE'"
)


def existing_table_names(self):
    with self.connection.cursor() as cursor:
        cursor.execute("SHOW FULL TABLES")
        return sorted(name for name, table_type in cursor.fetchall() if table_type == "BASE TABLE")
