from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("rows", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Unwritten",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("note", models.CharField(max_length=20)),
            ],
        ),
    ]
