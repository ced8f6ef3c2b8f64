"""A row written by a migration, which serialized_rollback brings back after a flush."""

from django.db import migrations


def seed(apps, schema_editor):
    apps.get_model("flush_app", "Author").objects.using(schema_editor.connection.alias).create(
        name="Seeded"
    )


class Migration(migrations.Migration):
    dependencies = [("flush_app", "0002_postgresql_triggers")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
