"""
Replacements for django.db.backends.oracle.creation.DatabaseCreation, and the
feature flag that lets Django clone Oracle test databases for parallel
workers (Django ticket #31908).

Oracle has no separate databases under one user: Django's test database is a
test user (its schema) with two tablespaces, made by the main user. A worker
gets the same: a user and tablespaces named after the alias's test ones with
the worker's number (test_django_1, ...), made by upstream's own statements
and grants. Its schema is built by running the migrations into it, as
create_test_db() built the alias's, which needs no privilege beyond those
upstream already needs. TEST["CLONE_STRATEGY"] = "datapump" copies the
alias's schema with Data Pump instead, when the main user may.

Django destroys the workers' test databases one after the other: here each
worker's user and tablespaces are dropped by a thread of its own, and the
alias's own test user goes when they are all gone. Nothing is dropped that
guard.check_derived() cannot trace back to the test settings.

Only the Jenkins stage (jenkins/oracle-stage.sh) runs this against an Oracle
server; tests/test_oracle.py checks the statements against a recording fake.
"""

import os
import threading
from contextlib import contextmanager

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import DatabaseError

from .. import patches
from .guard import check_derived

# DatabaseFeatures.can_clone_databases while the overlay is installed.
can_clone_databases = True

STRATEGIES = ("migrate", "datapump")
# What the main user needs to run a Data Pump import over a loopback link: the
# link, and, as a privileged importer, export rights at the link's other end.
DATAPUMP_PRIVILEGE = "CREATE DATABASE LINK"
DATAPUMP_ROLES = ("DATAPUMP_EXP_FULL_DATABASE", "DATAPUMP_IMP_FULL_DATABASE")

CREATE_LINK = (
    'CREATE DATABASE LINK %(link)s CONNECT TO %(main_user)s IDENTIFIED BY "%(main_password)s" '
    "USING '%(dsn)s'"
)
DROP_LINK = "DROP DATABASE LINK %(link)s"
# The worker's user exists already, with its grants and quota: only the
# schema's objects and rows are copied, into the worker's tablespace. Bind
# variables, not the names, go into the PL/SQL; the trailing "/" ends it for
# Django's Oracle cursor, which removes it.
DATAPUMP_IMPORT = """
DECLARE
    job NUMBER;
    state VARCHAR2(30);
BEGIN
    job := DBMS_DATAPUMP.OPEN(
        operation => 'IMPORT', job_mode => 'SCHEMA', remote_link => %(link)s
    );
    DBMS_DATAPUMP.METADATA_FILTER(job, 'SCHEMA_LIST', '''' || %(source)s || '''');
    DBMS_DATAPUMP.METADATA_FILTER(
        job, 'EXCLUDE_PATH_EXPR',
        'IN (''USER'', ''SYSTEM_GRANT'', ''ROLE_GRANT'', ''DEFAULT_ROLE'', ''TABLESPACE_QUOTA'')'
    );
    DBMS_DATAPUMP.METADATA_REMAP(job, 'REMAP_SCHEMA', %(source)s, %(target)s);
    DBMS_DATAPUMP.METADATA_REMAP(job, 'REMAP_TABLESPACE', %(source_tblspace)s, %(target_tblspace)s);
    DBMS_DATAPUMP.START_JOB(job);
    DBMS_DATAPUMP.WAIT_FOR_JOB(job, state);
    IF state <> 'COMPLETED' THEN
        RAISE_APPLICATION_ERROR(-20000, 'Data Pump import of the test schema ended ' || state);
    END IF;
END;
/"""

# alias -> the strategy its first clone chose, for the rest of the run.
_strategies = {}
# alias -> the WorkerTeardown threads dropping that alias's workers.
_teardowns = {}


def get_test_db_clone_settings(self, suffix):
    """
    The worker's user and tablespaces, on the alias's service (NAME), where
    the user's own TEST USER, TBLSPACE, TBLSPACE_TMP and datafiles get the
    worker's number too.

    The worker logs in with the alias's test user's password, TEST PASSWORD or
    the one generated for this run: the parent and every worker have it in
    their settings, where a password generated per worker could not be found
    again by a worker started by spawn.
    """
    settings_dict = self.connection.settings_dict
    names = _test_names(self)
    test = {
        **settings_dict["TEST"],
        "USER": f"{names['user']}_{suffix}",
        "TBLSPACE": f"{names['tblspace']}_{suffix}",
        "TBLSPACE_TMP": f"{names['tblspace_temp']}_{suffix}",
    }
    # Without them, upstream names the datafiles after the tablespaces.
    for key in ("DATAFILE", "DATAFILE_TMP"):
        if test.get(key):
            root, extension = os.path.splitext(test[key])
            test[key] = f"{root}_{suffix}{extension}"
    return {**settings_dict, "USER": test["USER"], "TEST": test}


def _clone_test_db(self, suffix, verbosity, keepdb=False):
    """
    Create the worker's tablespaces and user as the alias's were, then its
    schema. With keepdb, a worker user that exists is kept and migrated, which
    brings it up to date whichever strategy first made it.
    """
    clone_settings = self.get_test_db_clone_settings(suffix)
    clone = _creation(self, clone_settings)
    parameters = _parameters(clone, clone_settings)
    _check_worker_names(self, parameters)
    with self._maindb_connection.cursor() as cursor:
        strategy = _strategy(self, cursor)
        reused = keepdb and _user_exists(cursor, parameters["user"])
        _create_worker(self, clone, cursor, parameters, verbosity, keepdb)
        if strategy == "datapump" and not reused:
            _import_schema(self, clone, cursor, parameters, verbosity)
    self._maindb_connection.close()
    if strategy == "migrate" or reused:
        _migrate(self, clone_settings, verbosity)


def destroy_test_db(self, old_database_name=None, verbosity=1, keepdb=False, suffix=None):
    """
    A worker's user and tablespaces are dropped by a thread of its own, on a
    connection of its own, so that the workers' drops, Oracle's slowest
    statements, overlap; the alias's own test user waits for them all.

    Upstream cannot tell a worker's database from the alias's here: a clone's
    settings keep the alias's NAME, which is all _destroy_test_db() is given.
    """
    alias = self.connection.alias
    if suffix is not None:
        user = self.get_test_db_clone_settings(suffix)["USER"]
        if verbosity >= 1:
            action = "Preserving" if keepdb else "Destroying"
            display = self._get_database_display_str(verbosity, user)
            self.log(f"{action} test database for alias {display}...")
        if not keepdb:
            teardown = WorkerTeardown(self, suffix, verbosity)
            _teardowns.setdefault(alias, []).append(teardown)
            teardown.start()
        return
    _strategies.pop(alias, None)
    teardowns = _teardowns.pop(alias, [])
    for teardown in teardowns:
        teardown.join()
    patches.original(destroy_test_db)(self, old_database_name, verbosity, keepdb)
    failed = [teardown for teardown in teardowns if teardown.error]
    if failed:
        raise DatabaseError(
            f"Could not drop the test users and tablespaces of every worker for alias "
            f"{alias!r}: "
            + "; ".join(f"worker {teardown.suffix}: {teardown.error}" for teardown in failed)
        ) from failed[0].error


class WorkerTeardown(threading.Thread):
    """Drops one worker's user and tablespaces, on a connection of its own."""

    def __init__(self, creation, suffix, verbosity):
        super().__init__(name=f"django-overlay oracle teardown {suffix}")
        self.creation = creation
        self.suffix = suffix
        self.verbosity = verbosity
        self.clone_settings = creation.get_test_db_clone_settings(suffix)
        # What upstream's own connection as the main user is made from.
        self.main_settings = creation._maindb_connection.settings_dict
        self.error = None

    def run(self):
        clone = _creation(self.creation, self.clone_settings)
        parameters = _parameters(clone, self.clone_settings)
        # Django's connections belong to the thread that made them.
        main = _wrapper(self.creation, self.main_settings)
        try:
            with main.cursor() as cursor:
                _drop_worker(self.creation, clone, cursor, parameters, self.verbosity)
        except Exception as error:
            self.error = error
        finally:
            main.close()


def _wrapper(self, settings_dict):
    """A connection of the alias's backend with these settings, not yet connected."""
    return type(self.connection)(settings_dict, alias=self.connection.alias)


def _creation(self, settings_dict):
    """
    Upstream's DatabaseCreation for these settings: its helpers derive every
    name, size and datafile from the settings they are given.
    """
    return _wrapper(self, settings_dict).creation


def _main_user(settings_dict):
    # Once the test database exists, USER is the test user's (see upstream's
    # _switch_to_test_user()). Not _maindb_connection's: that reads the
    # settings module, which a worker started by spawn has afresh.
    return settings_dict.get("SAVED_USER") or settings_dict["USER"]


def _test_names(self):
    """
    The alias's test user and tablespaces. Upstream derives default tablespace
    names from USER, which is the test user's by now: derive them from the
    main user's settings, as upstream does when it drops them.
    """
    settings_dict = self.connection.settings_dict
    main = _creation(self, {**settings_dict, "USER": _main_user(settings_dict)})
    return {
        "user": main._test_database_user(),
        "tblspace": main._test_database_tblspace(),
        "tblspace_temp": main._test_database_tblspace_tmp(),
    }


def _parameters(clone, clone_settings):
    """Upstream's statement parameters for the worker, with the worker's password."""
    return {**clone._get_test_db_params(), "password": clone_settings["PASSWORD"]}


def _check_worker_names(self, parameters):
    """Refuse a worker user or tablespace not named after the alias's test ones."""
    names = _test_names(self)
    real_users = [_main_user(self.connection.settings_dict)]
    check_derived("user", parameters["user"], [names["user"]], real_users, ignore_case=True)
    for key in ("tblspace", "tblspace_temp"):
        check_derived("tablespace", parameters[key], [names[key]], ignore_case=True)


def _strategy(self, cursor):
    alias = self.connection.alias
    if alias not in _strategies:
        _strategies[alias] = _choose_strategy(self, cursor)
    return _strategies[alias]


def _choose_strategy(self, cursor):
    """
    TEST["CLONE_STRATEGY"]: "migrate" (the default) or "datapump", which falls
    back to "migrate", saying so, where the main user lacks the privileges.
    """
    alias = self.connection.alias
    requested = self._test_settings_get("CLONE_STRATEGY", default="migrate")
    if requested not in STRATEGIES:
        raise ImproperlyConfigured(
            f"DATABASES[{alias!r}]['TEST']['CLONE_STRATEGY'] is {requested!r}: "
            "choose 'migrate' (the default) or 'datapump'."
        )
    if requested == "datapump":
        cursor.execute(
            "SELECT privilege FROM session_privs WHERE privilege = %s "
            "UNION ALL SELECT role FROM session_roles WHERE role IN (%s, %s)",
            [DATAPUMP_PRIVILEGE, *DATAPUMP_ROLES],
        )
        held = {name for (name,) in cursor.fetchall()}
        missing = [name for name in (DATAPUMP_PRIVILEGE, *DATAPUMP_ROLES) if name not in held]
        if missing:
            main_user = _main_user(self.connection.settings_dict)
            self.log(
                f"Cloning the test database for alias {alias!r} by running migrations: "
                f"Data Pump cloning needs {', '.join(missing)}, which {main_user} lacks."
            )
            return "migrate"
    return requested


def _user_exists(cursor, user):
    # Unquoted names, as upstream's statements use, are stored in upper case.
    cursor.execute("SELECT 1 FROM all_users WHERE username = %s", [user.upper()])
    return cursor.fetchone() is not None


def _create_worker(self, clone, cursor, parameters, verbosity, keepdb):
    """
    Without keepdb, a worker's user or tablespace that an interrupted run left
    is replaced, as other backends replace a clone database that exists.
    """
    try:
        _create_tablespaces_and_user(clone, cursor, parameters, verbosity, keepdb)
    except DatabaseError as error:
        # Tablespace, or user, exists already: keepdb has upstream accept both.
        if keepdb or not ("ORA-01543" in str(error) or "ORA-01920" in str(error)):
            raise
        if verbosity >= 1:
            self.log(f"Destroying old test user {parameters['user']} and its tablespaces...")
        _drop_worker(self, clone, cursor, parameters, verbosity, missing_ok=True)
        _create_tablespaces_and_user(clone, cursor, parameters, verbosity, keepdb)


def _create_tablespaces_and_user(clone, cursor, parameters, verbosity, keepdb):
    if clone._test_database_create():
        clone._execute_test_db_creation(cursor, parameters, verbosity, keepdb)
    if clone._test_user_create():
        clone._create_test_user(cursor, parameters, verbosity, keepdb)


def _drop_worker(self, clone, cursor, parameters, verbosity, missing_ok=False):
    """The worker's user, then its tablespaces and their datafiles, as upstream's are dropped."""
    _check_worker_names(self, parameters)
    if clone._test_user_create():
        with _unless_missing("ORA-01918", missing_ok):
            clone._destroy_test_user(cursor, parameters, verbosity)
    if clone._test_database_create():
        with _unless_missing("ORA-00959", missing_ok):
            clone._execute_test_db_destruction(cursor, parameters, verbosity)


@contextmanager
def _unless_missing(error_code, missing_ok):
    """Let a DROP fail with error_code ("does not exist") where missing_ok."""
    try:
        yield
    except DatabaseError as error:
        if not (missing_ok and error_code in str(error)):
            raise


def _import_schema(self, clone, cursor, parameters, verbosity):
    """
    Copy the alias's test schema into the worker's: a Data Pump network import
    over a database link back to this same database, which needs no file on
    the server. The main user runs the job and is the link's user too.
    """
    # Imports python-oracledb, which installing the overlay must not need.
    from django.db.backends.oracle.base import dsn

    settings_dict = self.connection.settings_dict
    names = _test_names(self)
    main_settings = self._maindb_connection.settings_dict
    link = {
        # A private link of the main user's, named after the worker's user.
        "link": parameters["user"],
        "main_user": main_settings["USER"],
        "main_password": main_settings["PASSWORD"],
        "dsn": dsn(settings_dict).replace("'", "''"),
    }
    check_derived("database link", link["link"], [names["user"]], ignore_case=True)
    try:
        clone._execute_statements(cursor, [CREATE_LINK], link, verbosity)
    except DatabaseError as error:
        # A link left by an interrupted run: it is ours, by its name.
        if "ORA-02011" not in str(error):
            raise
        clone._execute_statements(cursor, [DROP_LINK, CREATE_LINK], link, verbosity)
    try:
        cursor.execute(
            DATAPUMP_IMPORT,
            {
                "link": link["link"].upper(),
                "source": names["user"].upper(),
                "target": parameters["user"].upper(),
                "source_tblspace": names["tblspace"].upper(),
                "target_tblspace": parameters["tblspace"].upper(),
            },
        )
    finally:
        check_derived("database link", link["link"], [names["user"]], ignore_case=True)
        clone._execute_statements(cursor, [DROP_LINK], link, verbosity)


def _migrate(self, clone_settings, verbosity):
    """
    Build the worker's schema as create_test_db() built the alias's: migrate,
    then createcachetable. Management commands take an alias, not settings,
    so the alias's connection is switched to the worker's user meanwhile.
    """
    connection = self.connection
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(clone_settings)
    try:
        with _migration_modules(connection):
            call_command(
                "migrate",
                verbosity=max(verbosity - 1, 0),
                interactive=False,
                database=connection.alias,
                run_syncdb=True,
            )
        call_command("createcachetable", database=connection.alias)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@contextmanager
def _migration_modules(connection):
    """TEST["MIGRATE"] = False: tables straight from the models, as for the alias's."""
    if connection.settings_dict["TEST"].get("MIGRATE", True) is not False:
        yield
        return
    saved = settings.MIGRATION_MODULES
    settings.MIGRATION_MODULES = {app.label: None for app in apps.get_app_configs()}
    try:
        yield
    finally:
        settings.MIGRATION_MODULES = saved
