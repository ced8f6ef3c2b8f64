"""SQLite's schema templates: files in the project's schema directory, copied by backup()."""

import os
import sqlite3
from pathlib import Path

from ...runner import schema_fingerprint
from ...runner.atomic_files import replace
from .. import guard
from . import is_template, records_directory


class SQLiteTemplates:
    """
    An alias's templates, the newest used kept. No spare copies: a copy of a
    file is what a worker's database is made by already.
    """

    spares = False

    def __init__(self, connection):
        self.connection = connection
        self.directory = records_directory()
        self.record_path = self.directory / f"{connection.alias}.json"

    def unsupported(self):
        return None

    def fingerprint(self):
        return schema_fingerprint.fingerprint(self.connection)

    def name(self, digest):
        return str(self.directory / f"{self.connection.alias}_schema_{digest}.sqlite3")

    def exists(self, name):
        return os.path.exists(name)

    def clone(self, template, test_name):
        self.connection.ensure_connection()
        source = sqlite3.connect(f"{Path(template).resolve().as_uri()}?mode=ro", uri=True)
        try:
            source.backup(self.connection.connection)
        finally:
            source.close()

    def save(self, test_name, template):
        root, extension = os.path.splitext(template)
        building = f"{root}_{os.getpid()}{extension}"
        guard.check_template(self.connection, building)
        guard.check_template(self.connection, template)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.connection.ensure_connection()
        target = sqlite3.connect(building)
        try:
            self.connection.connection.backup(target)
        finally:
            target.close()
        # The same schema either way: the last rename wins.
        replace(building, template)

    def templates(self, building_too=False):
        """The alias's templates, the newest used first."""
        paths = [
            path
            for path in self.directory.glob(f"{self.connection.alias}_schema_*.sqlite3")
            if is_template(path.name.removesuffix(".sqlite3"), self.connection.alias, building_too)
        ]
        return [str(path) for path in sorted(paths, key=_modified, reverse=True)]

    def used(self, template):
        os.utime(template)

    def drop(self, name):
        guard.check_template(self.connection, name)
        Path(name).unlink(missing_ok=True)


def _modified(path):
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0
