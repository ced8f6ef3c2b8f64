"""
Migration.apply() that renders the project's models once for a run of
CreateModel operations instead of once per operation.

Why: migrating keeps the project state's models rendered (the executor
renders them before the first migration), and each CreateModel adds its
model state with ProjectState.add_model(), which renders again the new model
and every model related to it, recursively. In a project whose models are
linked by foreign keys (most are, through the user model if nothing else),
each CreateModel renders most of the models created so far: migrating
bench/model_apps.py's 80 models rendered 3,539 model classes, three quarters
of the migrate's time, all of it the client's CPU. Every test run migrates
its test databases, so every run pays it before its first test.

What changes: consecutive CreateModel operations of a migration add their
model states first, then the related models are rendered once (the union of
what each add would have rendered, through ProjectState.reload_models()),
then each operation creates its table, in the migration's order, with
upstream's per-operation choice of a transaction. A table is created from its
model exactly as before: creating a table reads only the model's own fields
and options and the models they point to, never reverse relations, so the
models that later operations of the run add change nothing in it. The
operation's from_state is the state before the run; CreateModel does not
read it, which is why only CreateModel itself is taken, not subclasses.

What stays upstream's: a run ends before a CreateModel whose model an
earlier operation of the run refers to (a field's target or through model,
a base) or creates again, as CreateModel.references_model() says, so a
migration that refers to a model before creating it fails as it does
upstream, instead of finding the model in the run's state; every other
operation, a run of one, and sqlmigrate's SQL (collect_sql) go operation by
operation as upstream.

patches/0017 proposes the same change to Django.
"""

from django.db import transaction
from django.db.migrations.operations.models import CreateModel

from . import patches


def apply(self, project_state, schema_editor, collect_sql=False):
    """Migration.apply(), with runs of CreateModel rendered together (see the module)."""
    if collect_sql:
        return patches.original(apply)(self, project_state, schema_editor, collect_sql)
    for run in _runs(self.operations, self.app_label):
        from_state = project_state.clone()
        _state_forwards(run, self.app_label, project_state)
        for operation in run:
            _database_forwards(self, operation, schema_editor, from_state, project_state)
    return project_state


def _runs(operations, app_label):
    """The operations in order, in lists: consecutive CreateModels that may go together."""
    run = []
    for operation in operations:
        if type(operation) is not CreateModel:
            if run:
                yield run
                run = []
            yield [operation]
            continue
        # CreateModel.references_model() is true of its own model too.
        if any(earlier.references_model(operation.name, app_label) for earlier in run):
            yield run
            run = []
        run.append(operation)
    if run:
        yield run


def _state_forwards(run, app_label, state):
    if len(run) == 1:
        run[0].state_forwards(app_label, state)
        return
    # Without rendered apps, add_model() only records the model state.
    apps = state.__dict__.pop("apps", None)
    try:
        for operation in run:
            operation.state_forwards(app_label, state)
    finally:
        if apps is not None:
            state.apps = apps
    if apps is not None:
        state.reload_models([(app_label, operation.name_lower) for operation in run], delay=False)


def _database_forwards(migration, operation, schema_editor, from_state, to_state):
    # Upstream's choice: an operation that must be atomic gets a transaction
    # of its own where the migration's DDL runs outside one.
    atomic_operation = operation.atomic or (migration.atomic and operation.atomic is not False)
    if atomic_operation and not schema_editor.atomic_migration:
        with transaction.atomic(schema_editor.connection.alias):
            operation.database_forwards(migration.app_label, schema_editor, from_state, to_state)
    else:
        operation.database_forwards(migration.app_label, schema_editor, from_state, to_state)
