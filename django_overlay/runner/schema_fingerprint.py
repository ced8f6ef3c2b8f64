"""
The fingerprint of what migrate would make of an alias's test database, for
--reuse-schema (runner/schema_templates.py): a template made by an earlier
run is cloned only while every part of it is unchanged.

Each part is a digest, kept by name, so that a rebuild can say which part
changed ("migrations of app 'shop' changed"):

- the Django version, which owns migrate, the schema editors and the
  post_migrate handlers of contrib apps;
- the alias's ENGINE, OPTIONS and TEST settings (but for NAME, MIRROR and
  DEPENDENCIES, which do not change what is made);
- INSTALLED_APPS, in order;
- per app, the files of its migrations package (MIGRATION_MODULES honoured),
  every file but __pycache__'s: what migrate applies;
- per app, its models as makemigrations would write them, but for the
  fields' arguments that never reach the database (help_text, choices,
  a FileField's storage...), with each field's column type on this
  connection: what run_syncdb creates for an app without migrations, and
  what contenttypes' and auth's post_migrate handlers write rows for (a
  model's verbose_name is in a permission's name);
- what the routers answer (runner.alias_copies.routings());
- the source of every pre_migrate and post_migrate receiver: what they write
  is in the template;
- the tables of the DatabaseCache caches, which createcachetable adds.

Not seen: code a migration imports from outside its package (a RunPython
helper, a custom field's db_type()) unless a model of today uses it; the
Django version covers Django's own.
"""

import hashlib
import importlib.util
import inspect
import os
import re
import weakref

import django
from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import BaseDatabaseCache
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import CreateModel
from django.db.migrations.state import ModelState
from django.db.migrations.writer import MigrationWriter, OperationWriter
from django.db.models import FileField
from django.db.models.signals import post_migrate, pre_migrate

from . import alias_copies

# A repr() that shows where an object lives differs from run to run.
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# A FileField's arguments that decide where its files go, not its column.
FILE_ATTRIBUTES = ("storage", "upload_to")


def fingerprint(connection, server=None):
    """
    {part: digest}, in the order a rebuild's reason looks for a change.
    Column types are asked of server, a connection that may be opened (the
    alias's own may name a database that does not exist yet), connection by
    default.
    """
    settings_dict = connection.settings_dict
    app_configs = list(apps.get_app_configs())
    parts = {
        "the Django version": django.get_version(),
        "ENGINE": settings_dict["ENGINE"],
        "OPTIONS": _sorted_repr(settings_dict.get("OPTIONS", {})),
        "TEST settings": _sorted_repr(
            {
                key: value
                for key, value in settings_dict["TEST"].items()
                if key not in alias_copies.UNRELATED_TEST_SETTINGS
            }
        ),
        "INSTALLED_APPS": repr([app_config.name for app_config in app_configs]),
    }
    for app_config in app_configs:
        parts[f"migrations of app '{app_config.label}'"] = _migration_files(app_config.label)
        parts[f"models of app '{app_config.label}'"] = _models(app_config, server or connection)
    parts["the routers' answers"] = repr(alias_copies.routings(connection.alias)[0])
    parts["the pre_migrate and post_migrate handlers"] = repr(
        [
            _source(receiver)
            for signal in (pre_migrate, post_migrate)
            for receiver in _receivers(signal)
        ]
    )
    parts["the database cache tables"] = repr(
        sorted(
            cache._table
            for cache in map(caches.__getitem__, settings.CACHES)
            if isinstance(cache, BaseDatabaseCache)
        )
    )
    return {part: _digest(value) for part, value in parts.items()}


def digest(parts):
    """The whole fingerprint in 12 hexadecimal digits, for a template's name."""
    return _digest(repr(sorted(parts.items())))[:12]


def what_changed(earlier, parts):
    """Why a template made for the fingerprint earlier is not one for parts."""
    for part, value in parts.items():
        if part not in earlier:
            return f"{part} is new"
        if earlier[part] != value:
            return f"{part} changed"
    removed = [part for part in earlier if part not in parts]
    if removed:
        return f"{removed[0]} is gone"
    return None


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _sorted_repr(mapping):
    return ADDRESS.sub("", repr(sorted(mapping.items())))


def _migration_files(app_label):
    """The names and contents of the files of app_label's migrations package."""
    module_name, _explicit = MigrationLoader.migrations_module(app_label)
    if module_name is None:
        return "migrations turned off"
    try:
        spec = importlib.util.find_spec(module_name)
    except ImportError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return "no migrations package"
    files = hashlib.sha256()
    for location in spec.submodule_search_locations:
        for directory, subdirectories, names in os.walk(location):
            subdirectories[:] = sorted(name for name in subdirectories if name != "__pycache__")
            for name in sorted(names):
                path = os.path.join(directory, name)
                files.update(os.path.relpath(path, location).encode() + b"\0")
                with open(path, "rb") as file:
                    files.update(hashlib.sha256(file.read()).digest())
    return files.hexdigest()


def _models(app_config, connection):
    """
    Each model as makemigrations would write its CreateModel, but for its
    fields' arguments that never reach the database, and its column types.
    """
    described = []
    for model in app_config.get_models(include_auto_created=True):
        state = ModelState.from_model(model)
        operation = CreateModel(state.name, [], state.options, state.bases, state.managers)
        fields = [(name, _schema_arguments(field)) for name, field in state.fields.items()]
        try:
            written, _imports = OperationWriter(operation, indentation=0).serialize()
            written += MigrationWriter.serialize(fields)[0]
        except ValueError:
            # A value the migration writer cannot write; its repr() is the next best.
            written = ADDRESS.sub("", repr((fields, state.options)))
        columns = [(field.column, field.db_type(connection)) for field in model._meta.local_fields]
        described.append((model._meta.label, written, columns))
    return repr(described)


def _schema_arguments(field):
    """
    field's class and arguments without those that never reach the
    database: Django's own list (the non_db_attrs for which the schema
    editor leaves a field alone), and where a FileField keeps its files,
    which Django's own suite's model_forms puts in a new temporary directory
    every run.
    """
    _name, path, args, kwargs = field.deconstruct()
    file_attributes = FILE_ATTRIBUTES if isinstance(field, FileField) else ()
    for attribute in (*field.non_db_attrs, *file_attributes):
        kwargs.pop(attribute, None)
    return (path, args, kwargs)


def _receivers(signal):
    for entry in signal.receivers:
        receiver = entry[1]
        if isinstance(receiver, weakref.ReferenceType):
            receiver = receiver()
        if receiver is not None:
            yield receiver


def _source(receiver):
    try:
        return inspect.getsource(receiver)
    except (OSError, TypeError):
        return getattr(receiver, "__qualname__", type(receiver).__qualname__)
