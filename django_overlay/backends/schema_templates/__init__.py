"""
Where each backend keeps the schema templates of --reuse-schema
(runner/schema_templates.py), one module per backend, imported only when a
run asks for templates: DatabaseCreation.schema_template_store() of the
backend's module (backends/postgresql.py, mysql.py, sqlite3.py) returns one.

A store makes, lists, clones and drops an alias's templates; what decides
whether a template is used, and which are kept, is the runner's. A store
whose spares is True also makes spare copies of a template, and hands one
over under a test database's name in one cheap step (spare(), make_spare(),
take_spare()): a run makes them as it ends, for the next run's workers.
"""

from ...paths import project_key
from ...runner import schema_fingerprint
from .. import guard


def records_directory():
    """Where the fingerprints of the templates kept last are recorded, per alias."""
    return guard.template_directory() / project_key()


def is_template(name, prefix, building_too):
    matched = guard.TEMPLATE.fullmatch(name)
    if not matched or matched["prefix"] != prefix:
        return False
    # Beyond the prefix, "_schema_" and 12 digits; a copy being built has its
    # process id too, and a spare copy "_spare" and its number.
    return building_too or len(name) == len(prefix) + len("_schema_") + 12


class ServerTemplates:
    """
    An alias's templates on its server, named after the test database its
    NAME gives by default: runs whose TEST NAMEs differ (CI jobs sharing a
    server) share them.
    """

    spares = False

    def __init__(self, connection):
        self.connection = connection
        self.creation = connection.creation
        self.prefix = guard.template_prefix(
            connection.settings_dict["NAME"], connection.ops.max_name_length()
        )
        self.record_path = records_directory() / f"{connection.alias}.json"

    def name(self, digest):
        return f"{self.prefix}_schema_{digest}"

    def fingerprint(self):
        with self.creation._nodb_cursor() as cursor:
            return schema_fingerprint.fingerprint(self.connection, cursor.db)

    def spare(self, template, number):
        """The name of template's spare copy number, or None where it would not fit."""
        name = f"{template}_spare{number}"
        return name if len(name) <= self.connection.ops.max_name_length() else None
