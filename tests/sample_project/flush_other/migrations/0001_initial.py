from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("flush_app", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Fan",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50)),
                (
                    "author",
                    models.ForeignKey(null=True, on_delete=models.CASCADE, to="flush_app.author"),
                ),
            ],
        ),
    ]
