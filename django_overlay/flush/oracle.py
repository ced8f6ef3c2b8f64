"""
What django.db.backends.oracle.operations.DatabaseOperations answers when
the overlay's flush asks (see django_overlay.flush).

Upstream disables the foreign keys of every table of the flush set,
truncates every table, and enables the keys again: Oracle refuses to
truncate a table that an enabled foreign key refers to, even from an empty
table. TRUNCATE fires no DML trigger and keeps identity columns where they
are. The overlay truncates only the tables that have rows, with the foreign
keys that refer to them disabled meanwhile, which leaves what upstream
leaves. With allow_cascade it counts in the tables upstream's cascade adds,
found by upstream's own _foreign_key_constraints().
"""

from .base import probe

# Every foreign key of the schema: (referring table, its name, referred table).
FOREIGN_KEYS_SQL = (
    "SELECT referring.table_name, referring.constraint_name, referred.table_name "
    "FROM user_constraints referring JOIN user_constraints referred "
    "ON referring.r_constraint_name = referred.constraint_name "
    "WHERE referring.constraint_type = 'R'"
)


def tables_flushed(self, tables, *, allow_cascade=False):
    if not allow_cascade or not tables:
        return list(tables)
    given = {table.upper() for table in tables}
    cascaded = {
        foreign_table
        for table in tables
        for foreign_table, _constraint in self._foreign_key_constraints(table, recursive=True)
        if foreign_table.upper() not in given
    }
    return list(tables) + sorted(cascaded)


def sql_flush_with_rows(self, style, tables):
    with_rows = probe(self, tables).get("rows", set())
    truncated = [table for table in tables if table in with_rows]
    if not truncated:
        return []
    names = {table.upper() for table in truncated}
    with self.connection.cursor() as cursor:
        cursor.execute(FOREIGN_KEYS_SQL)
        keys = sorted(
            (referring, constraint)
            for referring, constraint, referred in cursor.fetchall()
            if referred.upper() in names
        )
    quote = self.quote_name
    return (
        [
            "{} {} {} {};".format(
                style.SQL_KEYWORD("ALTER TABLE"),
                style.SQL_FIELD(quote(table)),
                style.SQL_KEYWORD("DISABLE CONSTRAINT"),
                style.SQL_FIELD(quote(constraint)) + " " + style.SQL_KEYWORD("KEEP INDEX"),
            )
            for table, constraint in keys
        ]
        + [
            "{} {};".format(style.SQL_KEYWORD("TRUNCATE TABLE"), style.SQL_FIELD(quote(table)))
            for table in truncated
        ]
        + [
            "{} {} {} {};".format(
                style.SQL_KEYWORD("ALTER TABLE"),
                style.SQL_FIELD(quote(table)),
                style.SQL_KEYWORD("ENABLE CONSTRAINT"),
                style.SQL_FIELD(quote(constraint)),
            )
            for table, constraint in keys
        ]
    )
