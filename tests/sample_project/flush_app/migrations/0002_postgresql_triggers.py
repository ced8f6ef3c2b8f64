"""
User-defined triggers on PostgreSQL, where upstream's flush is a TRUNCATE and
the overlay's may be a DELETE: a row DELETE trigger on book that writes to
audit (in the flush set), and a TRUNCATE trigger on tag that counts
truncations in a table of no model (outside the flush set, so its rows stay).
"""

from django.db import migrations

STATEMENTS = [
    "CREATE TABLE flush_app_truncations (id serial PRIMARY KEY, truncated text NOT NULL)",
    "CREATE FUNCTION flush_app_audit_book() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO flush_app_audit (note) VALUES ('deleted book ' || OLD.id); "
    "RETURN OLD; END $$",
    "CREATE TRIGGER flush_app_book_audit AFTER DELETE ON flush_app_book "
    "FOR EACH ROW EXECUTE FUNCTION flush_app_audit_book()",
    "CREATE FUNCTION flush_app_count_truncation() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO flush_app_truncations (truncated) VALUES (TG_TABLE_NAME); "
    "RETURN NULL; END $$",
    "CREATE TRIGGER flush_app_tag_truncation BEFORE TRUNCATE ON flush_app_tag "
    "FOR EACH STATEMENT EXECUTE FUNCTION flush_app_count_truncation()",
]


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in STATEMENTS:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("flush_app", "0001_initial")]
    operations = [migrations.RunPython(create_triggers, migrations.RunPython.noop)]
