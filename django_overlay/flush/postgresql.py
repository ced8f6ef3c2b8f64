"""
What django.db.backends.postgresql.operations.DatabaseOperations answers
when the overlay's flush asks (see django_overlay.flush).

Upstream empties the flush set with one ``TRUNCATE t1, t2, ...``: PostgreSQL
gives every table (and each of its indexes) new files, which costs tens of
milliseconds per table whether or not it had rows. A DELETE of the few rows a
test wrote costs well under a millisecond. So the tables with rows are
emptied by DELETE, except where a DELETE would do something a TRUNCATE does
not:

- a table with triggers or rules of its own: a DELETE fires its row and
  statement DELETE triggers and its DELETE rules, and, by a foreign key's ON
  DELETE SET NULL or SET DEFAULT, a referring table's UPDATE triggers; a
  TRUNCATE fires its TRUNCATE triggers, which upstream fires at every flush;
- a table referred to by a foreign key that is not deferrable (Django's are
  all deferrable): deleting its rows before the referring rows would fail.

Such tables, and the tables of the flush set that refer to them, are
emptied by one TRUNCATE at every flush, with or without rows, as upstream
empties them. The rest is emptied by DELETE where it has rows; neither resets
a sequence (the flush of a test never asks for RESTART IDENTITY).

What remains different from upstream: a DELETE leaves dead rows for
(auto)vacuum where a TRUNCATE gives the table new files; a table outside the
flush set that refers to a table of it makes upstream's TRUNCATE fail, and
the overlay's only if that table is truncated (with allow_cascade, upstream
empties such tables, and so does the overlay, if they are on the search path).
"""

# For each table of %(tables)s: whether it is to be truncated, and whether it
# has rows. Truncated: the tables with triggers or rules of their own or
# referred to by a foreign key that is not deferrable, and the tables of
# %(tables)s that refer to them, as TRUNCATE requires.
#
# Has rows: a query on a table opens it and all of its indexes, which on the
# fresh connection each test ends with costs about a millisecond per table
# (150 ms for 157 tables here, see docs/benchmarks.md). A table whose file is
# empty has no rows, and asking its size opens nothing more than the table:
# only the others are asked, each by a query of its own that query_to_xml()
# runs, so that the whole answer still takes one round trip. A table with
# inheritance children or partitions has its rows in their files. A table
# emptied by DELETE keeps its file until vacuum shortens it: the tables a run
# has written are asked at each flush.
PROBE_SQL = """
WITH RECURSIVE flushed AS (
    SELECT oid, relname, relhassubclass FROM pg_catalog.pg_class
    WHERE relkind IN ('r', 'p') AND relname = ANY(%s) AND pg_catalog.pg_table_is_visible(oid)
), truncated (oid) AS (
    SELECT oid FROM flushed
    WHERE EXISTS (
        SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = flushed.oid AND NOT tgisinternal
    ) OR EXISTS (
        SELECT 1 FROM pg_catalog.pg_rewrite WHERE ev_class = flushed.oid
    ) OR EXISTS (
        SELECT 1 FROM pg_catalog.pg_constraint
        WHERE confrelid = flushed.oid AND contype = 'f' AND NOT condeferrable
    )
    UNION
    SELECT referring.conrelid FROM pg_catalog.pg_constraint referring
    JOIN truncated ON referring.confrelid = truncated.oid
    JOIN flushed ON flushed.oid = referring.conrelid
    WHERE referring.contype = 'f'
)
SELECT
    relname,
    oid IN (SELECT oid FROM truncated),
    CASE WHEN relhassubclass OR pg_catalog.pg_relation_size(oid) > 0 THEN
        (pg_catalog.xpath('/row/found/text()', pg_catalog.query_to_xml(
            pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %%s) AS found', oid::regclass),
            false, true, ''
        )))[1]::text = 'true'
    ELSE false END
FROM flushed"""

# TRUNCATE ... CASCADE also empties the tables that refer to the truncated
# ones, and those that refer to them.
CASCADE_SQL = """
WITH RECURSIVE cascaded (oid) AS (
    SELECT oid FROM pg_catalog.pg_class
    WHERE relkind IN ('r', 'p') AND relname = ANY(%s) AND pg_catalog.pg_table_is_visible(oid)
    UNION
    SELECT referring.conrelid FROM pg_catalog.pg_constraint referring
    JOIN cascaded ON referring.confrelid = cascaded.oid
    WHERE referring.contype = 'f'
)
SELECT relname FROM cascaded JOIN pg_catalog.pg_class USING (oid)
WHERE pg_catalog.pg_table_is_visible(oid)"""


def tables_flushed(self, tables, *, allow_cascade=False):
    if not allow_cascade or not tables:
        return list(tables)
    with self.connection.cursor() as cursor:
        cursor.execute(CASCADE_SQL, [list(tables)])
        cascaded = {name for (name,) in cursor.fetchall()}
    return list(tables) + sorted(cascaded - set(tables))


def sql_flush_with_rows(self, style, tables):
    if not tables:
        return []
    with self.connection.cursor() as cursor:
        cursor.execute(PROBE_SQL, [list(tables)])
        found = {name: (truncate, has_rows) for name, truncate, has_rows in cursor.fetchall()}
    truncated = [table for table in tables if found.get(table, (False, False))[0]]
    deleted = [table for table in tables if found.get(table, (False, False)) == (False, True)]
    statements = []
    if truncated:
        # First, so that no DELETE below changes a row of a table with triggers.
        statements.append(
            "{} {};".format(
                style.SQL_KEYWORD("TRUNCATE"),
                ", ".join(style.SQL_FIELD(self.quote_name(table)) for table in truncated),
            )
        )
    statements.extend(
        "{} {};".format(style.SQL_KEYWORD("DELETE FROM"), style.SQL_FIELD(self.quote_name(table)))
        for table in deleted
    )
    return statements
