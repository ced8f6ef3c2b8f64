"""
Apps of generated models for the benchmarks: each model with a nullable
foreign key to the one before it in its app and another to a model of the
app before, so that migrations, flushes and clones have real constraints
to handle.
"""


def model_source(app, index, models_per_app):
    """Model `index` of app `app`."""
    number = app * models_per_app + index
    lines = [f"class Model{number}(models.Model):", "    name = models.CharField(max_length=50)"]
    if index > 0:
        lines.append(
            f"    previous = models.ForeignKey('Model{number - 1}', models.CASCADE, null=True)"
        )
    if app > 0:
        target = (app - 1) * models_per_app + (index * 7) % models_per_app
        lines.append(
            f"    earlier = models.ForeignKey('app{app - 1}.Model{target}', models.CASCADE, "
            f"null=True, related_name='+')"
        )
    return "\n".join(lines)


def write_apps(root, apps, models_per_app):
    """Packages app0 ... app<apps - 1> under root, with empty migrations packages."""
    for app in range(apps):
        package = root / f"app{app}"
        (package / "migrations").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "migrations" / "__init__.py").write_text("")
        models = [model_source(app, index, models_per_app) for index in range(models_per_app)]
        (package / "models.py").write_text(
            "from django.db import models\n\n\n" + "\n\n\n".join(models) + "\n"
        )
