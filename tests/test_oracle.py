"""
Oracle's test databases for parallel workers, checked statement by statement.

No Oracle server runs here (the Jenkins stage has one), so upstream's own
DatabaseCreation drives a recording fake connection: every statement each
connection executes is recorded with the user it is connected as, and the
answers to existence and privilege queries, and the errors a server would
raise, are scripted per test. The alias's test database is first created by
upstream's _create_test_db(), so the clones start from the state Django
leaves: connected as the test user, the main user saved.

Upstream cannot clone Oracle test databases: _clone_test_db() raises
NotImplementedError and get_test_db_clone_settings() keeps the test user.
"""

import re
import threading
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.test.utils import teardown_databases

from django_overlay import patches
from django_overlay.backends import guard
from django_overlay.backends import oracle as overlay_oracle

# The datapump path builds its database link's address with Django's Oracle
# utilities, which import the driver.
pytest.importorskip("oracledb")

from django.db.backends.oracle import creation as oracle_creation  # noqa: E402
from django.db.backends.oracle.features import DatabaseFeatures  # noqa: E402

SERVICE = "localhost:1521/freepdb1"
GENERATED = "Generated0123456789"
SIZES = "SIZE 50M REUSE AUTOEXTEND ON NEXT 25M MAXSIZE 500M"
DATAPUMP_PRIVILEGES = {
    "CREATE DATABASE LINK",
    "DATAPUMP_EXP_FULL_DATABASE",
    "DATAPUMP_IMP_FULL_DATABASE",
}


@dataclass(frozen=True)
class Executed:
    user: str
    sql: str
    params: object = None
    thread: str = ""
    connection: int = 0


class Server:
    """What the fake connections share: what they ran, and scripted answers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.executed = []
        # (statement prefix, error message): raised once, by the first match.
        self.failures = []
        self.existing_users = set()
        self.privileges = set()
        self.barrier = None

    def fail(self, prefix, message):
        self.failures.append((prefix, message))

    def execute(self, connection, sql, params):
        sql = " ".join(sql.split())
        with self.lock:
            self.executed.append(
                Executed(
                    connection.settings_dict["USER"],
                    sql,
                    params,
                    threading.current_thread().name,
                    id(connection),
                )
            )
            failure = next((f for f in self.failures if sql.startswith(f[0])), None)
            if failure:
                self.failures.remove(failure)
        in_worker_teardown = threading.current_thread().name != "MainThread"
        if self.barrier and in_worker_teardown and sql.startswith("DROP USER"):
            # Every worker's drop must be under way at once, or this breaks.
            self.barrier.wait()
        if failure:
            raise DatabaseError(failure[1])
        if "FROM all_users" in sql:
            return [(1,)] if params[0] in self.existing_users else []
        if "FROM session_privs" in sql:
            return [(name,) for name in params if name in self.privileges]
        return []

    def statements(self, thread=None):
        return [
            (e.user, e.sql)
            for e in self.executed
            if thread is None or (e.thread == "MainThread") == (thread == "main")
        ]


class FakeCursor:
    def __init__(self, connection):
        self.connection = connection
        self.rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def execute(self, sql, params=None):
        self.rows = self.connection.server.execute(self.connection, sql, params)

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


class FakeOracle:
    """Stands in for Oracle's DatabaseWrapper under its real DatabaseCreation."""

    server = None
    is_pool = False

    def __init__(self, settings_dict, alias="default"):
        self.settings_dict = settings_dict
        self.alias = alias
        self.creation = oracle_creation.DatabaseCreation(self)

    def cursor(self):
        return FakeCursor(self)

    def close(self):
        pass

    def close_pool(self):
        pass


def oracle_settings(user="django", **test):
    return {
        "ENGINE": "django.db.backends.oracle",
        "NAME": SERVICE,
        "USER": user,
        "PASSWORD": "secret",
        "HOST": "",
        "PORT": "",
        "OPTIONS": {},
        "TEST": {"NAME": None, "MIGRATE": True, **test},
    }


@pytest.fixture(scope="module", autouse=True)
def django_settings():
    if not settings.configured:
        settings.configure(DATABASES={}, INSTALLED_APPS=[])


@pytest.fixture
def overlay():
    patches.install()
    yield
    patches.uninstall()


@pytest.fixture
def server():
    return Server()


@pytest.fixture
def make_connection(monkeypatch, server, overlay):
    """
    A connection to the fake server whose test database upstream has just
    created, as setup_databases() leaves it before cloning.
    """
    monkeypatch.setattr(oracle_creation, "get_random_string", lambda length: GENERATED)
    monkeypatch.setattr(overlay_oracle, "call_command", record_command)
    wrapper_class = type("FakeOracle", (FakeOracle,), {"server": server})

    def make(user="django", **test):
        settings_dict = oracle_settings(user, **test)
        monkeypatch.setattr(settings, "DATABASES", {"default": settings_dict})
        connection = wrapper_class(settings_dict)
        connection.creation._create_test_db(verbosity=0, autoclobber=True)
        server.executed.clear()
        record_command.connection = connection
        return connection

    yield make
    overlay_oracle._strategies.clear()


def record_command(name, **options):
    """call_command() as the clone runs it: which user it would migrate."""
    connection = record_command.connection
    connection.server.execute(connection, f"manage.py {name}", options)


@pytest.fixture
def connection(make_connection):
    return make_connection()


def worker_creation(n, user="test_django", tblspace="test_django", temp="test_django_temp"):
    """What the main user runs to make worker n: upstream's statements, the worker's names."""
    return [
        ("django", f"CREATE TABLESPACE {tblspace}_{n} DATAFILE '{tblspace}_{n}.dbf' {SIZES}"),
        (
            "django",
            f"CREATE TEMPORARY TABLESPACE {temp}_{n} TEMPFILE '{temp}_{n}.dbf' {SIZES}",
        ),
        (
            "django",
            f'CREATE USER {user}_{n} IDENTIFIED BY "{GENERATED}" DEFAULT TABLESPACE '
            f"{tblspace}_{n} TEMPORARY TABLESPACE {temp}_{n} QUOTA UNLIMITED ON {tblspace}_{n}",
        ),
        (
            "django",
            "GRANT CREATE SESSION, CREATE TABLE, CREATE SEQUENCE, CREATE PROCEDURE, "
            f"CREATE TRIGGER TO {user}_{n}",
        ),
        ("django", f"GRANT CREATE VIEW TO {user}_{n}"),
        ("django", f"GRANT CREATE MATERIALIZED VIEW TO {user}_{n}"),
    ]


def migrations(n):
    return [
        (f"test_django_{n}", "manage.py migrate"),
        (f"test_django_{n}", "manage.py createcachetable"),
    ]


def worker_drops(n):
    return [
        ("django", f"DROP USER test_django_{n} CASCADE"),
        (
            "django",
            f"DROP TABLESPACE test_django_{n} INCLUDING CONTENTS AND DATAFILES CASCADE CONSTRAINTS",
        ),
        (
            "django",
            f"DROP TABLESPACE test_django_temp_{n} "
            "INCLUDING CONTENTS AND DATAFILES CASCADE CONSTRAINTS",
        ),
    ]


# Clone settings.


def test_clone_settings_name_the_workers_user_and_tablespaces(connection):
    clone = connection.creation.get_test_db_clone_settings("2")

    assert clone["NAME"] == SERVICE
    assert clone["USER"] == "test_django_2"
    assert clone["PASSWORD"] == GENERATED
    assert clone["SAVED_USER"] == "django"
    assert clone["TEST"]["USER"] == "test_django_2"
    assert clone["TEST"]["TBLSPACE"] == "test_django_2"
    assert clone["TEST"]["TBLSPACE_TMP"] == "test_django_temp_2"
    # The alias's own settings are left as they were.
    assert connection.settings_dict["USER"] == "test_django"
    assert connection.settings_dict["TEST"]["USER"] == "test_django"


def test_clone_settings_keep_what_the_user_configured(make_connection):
    connection = make_connection(
        USER="app_tests",
        PASSWORD="Configured1",
        TBLSPACE="app_data",
        TBLSPACE_TMP="app_temp",
        DATAFILE="/opt/oracle/oradata/app_data.dbf",
        DATAFILE_TMP="/opt/oracle/oradata/app_temp.dbf",
    )

    clone = connection.creation.get_test_db_clone_settings("3")

    assert clone["NAME"] == SERVICE
    assert (clone["USER"], clone["PASSWORD"]) == ("app_tests_3", "Configured1")
    assert clone["TEST"]["PASSWORD"] == "Configured1"
    assert clone["TEST"]["TBLSPACE"] == "app_data_3"
    assert clone["TEST"]["TBLSPACE_TMP"] == "app_temp_3"
    assert clone["TEST"]["DATAFILE"] == "/opt/oracle/oradata/app_data_3.dbf"
    assert clone["TEST"]["DATAFILE_TMP"] == "/opt/oracle/oradata/app_temp_3.dbf"


def test_spawned_worker_connects_as_its_user(connection):
    """A spawned worker has only the settings the parent sends: they suffice."""
    worker = FakeOracle(
        {**connection.settings_dict, "TEST": dict(connection.settings_dict["TEST"])}
    )

    worker.creation.setup_worker_connection(1)

    assert worker.settings_dict["USER"] == "test_django_1"
    assert worker.settings_dict["PASSWORD"] == GENERATED


def test_oracle_can_clone_while_installed():
    assert DatabaseFeatures.can_clone_databases is False
    patches.install()
    try:
        assert DatabaseFeatures.can_clone_databases is True
    finally:
        patches.uninstall()
    assert DatabaseFeatures.can_clone_databases is False
    assert "can_clone_databases" not in vars(DatabaseFeatures)


# Cloning.


def test_clone_creates_user_with_the_same_grants_then_migrates_into_it(connection, server):
    connection.creation.clone_test_db("1", verbosity=0)

    assert server.statements() == worker_creation(1) + migrations(1)
    # The alias's connection is the alias's test user's again.
    assert connection.settings_dict["USER"] == "test_django"
    assert connection.settings_dict["TEST"]["USER"] == "test_django"


def test_clone_with_configured_test_names(make_connection, server):
    connection = make_connection(USER="app_tests", TBLSPACE="app_data", TBLSPACE_TMP="app_temp")

    connection.creation.clone_test_db("1", verbosity=0)

    assert server.statements()[:6] == worker_creation(1, "app_tests", "app_data", "app_temp")


def test_keepdb_reuses_an_existing_worker_user(connection, server):
    server.existing_users.add("TEST_DJANGO_1")
    server.fail("CREATE TABLESPACE", "ORA-01543: tablespace 'TEST_DJANGO_1' already exists")
    server.fail("CREATE USER", "ORA-01920: user name 'TEST_DJANGO_1' conflicts with another")

    connection.creation.clone_test_db("1", verbosity=0, keepdb=True)

    created = worker_creation(1)
    assert server.statements() == [
        ("django", "SELECT 1 FROM all_users WHERE username = %s"),
        # Upstream's keepdb: the first "exists" ends each group of statements.
        created[0],
        created[2],
        # The password generated for this run, as upstream sets the alias's.
        ("django", f'ALTER USER test_django_1 IDENTIFIED BY "{GENERATED}"'),
        *created[4:],
        *migrations(1),
    ]
    assert server.executed[0].params == ["TEST_DJANGO_1"]


def test_leftover_worker_is_replaced_without_keepdb(connection, server, capsys):
    server.fail("CREATE TABLESPACE", "ORA-01543: tablespace 'TEST_DJANGO_1' already exists")
    server.fail("DROP USER", "ORA-01918: user 'TEST_DJANGO_1' does not exist")

    connection.creation.clone_test_db("1", verbosity=1)

    assert server.statements() == [
        worker_creation(1)[0],
        *worker_drops(1),
        *worker_creation(1),
        *migrations(1),
    ]
    message = "Destroying old test user test_django_1 and its tablespaces..."
    assert message in capsys.readouterr().err


def test_datapump_clone_when_the_privileges_are_held(make_connection, server):
    server.privileges = DATAPUMP_PRIVILEGES
    connection = make_connection(CLONE_STRATEGY="datapump")

    connection.creation.clone_test_db("1", verbosity=0)
    connection.creation.clone_test_db("2", verbosity=0)

    privilege_check = (
        "django",
        "SELECT privilege FROM session_privs WHERE privilege = %s "
        "UNION ALL SELECT role FROM session_roles WHERE role IN (%s, %s)",
    )

    def import_schema(n):
        link = f"test_django_{n}"
        return [
            (
                "django",
                f'CREATE DATABASE LINK {link} CONNECT TO django IDENTIFIED BY "secret" '
                f"USING '{SERVICE}'",
            ),
            ("django", " ".join(overlay_oracle.DATAPUMP_IMPORT.split())),
            ("django", f"DROP DATABASE LINK {link}"),
        ]

    # The privileges are checked once; nothing is migrated.
    assert server.statements() == [
        privilege_check,
        *worker_creation(1),
        *import_schema(1),
        *worker_creation(2),
        *import_schema(2),
    ]
    job = next(e for e in server.executed if "DBMS_DATAPUMP" in e.sql)
    assert job.params == {
        "link": "TEST_DJANGO_1",
        "source": "TEST_DJANGO",
        "target": "TEST_DJANGO_1",
        "source_tblspace": "TEST_DJANGO",
        "target_tblspace": "TEST_DJANGO_1",
    }


def test_datapump_falls_back_to_migrations_saying_so_once(make_connection, server, capsys):
    server.privileges = {"CREATE DATABASE LINK", "DATAPUMP_IMP_FULL_DATABASE"}
    connection = make_connection(CLONE_STRATEGY="datapump")

    connection.creation.clone_test_db("1", verbosity=0)
    connection.creation.clone_test_db("2", verbosity=0)

    assert server.statements()[1:] == (
        worker_creation(1) + migrations(1) + worker_creation(2) + migrations(2)
    )
    message = (
        "Cloning the test database for alias 'default' by running migrations: Data Pump "
        "cloning needs DATAPUMP_EXP_FULL_DATABASE, which django lacks."
    )
    assert capsys.readouterr().err.count(message) == 1


def test_keepdb_migrates_an_existing_worker_even_with_datapump(make_connection, server):
    server.privileges = DATAPUMP_PRIVILEGES
    server.existing_users.add("TEST_DJANGO_1")
    connection = make_connection(CLONE_STRATEGY="datapump", PASSWORD="Configured1")

    connection.creation.clone_test_db("1", verbosity=0, keepdb=True)

    statements = server.statements()
    assert not [sql for _, sql in statements if "DATABASE LINK" in sql]
    assert statements[-2:] == migrations(1)


def test_failed_datapump_import_drops_its_link_and_says_why(make_connection, server):
    server.privileges = DATAPUMP_PRIVILEGES
    server.fail("DECLARE", "ORA-20000: Data Pump import of the test schema ended STOPPED")
    connection = make_connection(CLONE_STRATEGY="datapump")

    with pytest.raises(DatabaseError, match="ended STOPPED"):
        connection.creation.clone_test_db("1", verbosity=0)

    assert server.statements()[-1] == ("django", "DROP DATABASE LINK test_django_1")


def test_unknown_strategy_is_refused_before_anything_is_created(make_connection, server):
    connection = make_connection(CLONE_STRATEGY="rsync")

    with pytest.raises(ImproperlyConfigured, match="'CLONE_STRATEGY'] is 'rsync'"):
        connection.creation.clone_test_db("1", verbosity=0)

    assert server.statements() == []


# Quoting.


def test_names_reach_the_plsql_as_bind_values(make_connection, server):
    server.privileges = DATAPUMP_PRIVILEGES
    connection = make_connection(CLONE_STRATEGY="datapump")
    # A service name with a quote in it stays one SQL string literal.
    connection.settings_dict["NAME"] = "db.example:1521/it's"

    connection.creation.clone_test_db("1", verbosity=0)

    link = [sql for _, sql in server.statements() if sql.startswith("CREATE DATABASE LINK")]
    assert link == [
        'CREATE DATABASE LINK test_django_1 CONNECT TO django IDENTIFIED BY "secret" '
        "USING 'db.example:1521/it''s'"
    ]
    job = next(e for e in server.executed if "DBMS_DATAPUMP" in e.sql)
    assert "TEST_DJANGO" not in job.sql.upper()
    assert set(job.params.values()) == {"TEST_DJANGO", "TEST_DJANGO_1"}


# Teardown.


def test_workers_are_dropped_concurrently_before_the_alias(connection, server):
    server.barrier = threading.Barrier(2, timeout=60)
    old_config = [(connection, SERVICE, True)]

    teardown_databases(old_config, verbosity=0, parallel=2)

    worker_threads = {e.thread for e in server.executed if e.thread != "MainThread"}
    assert len(worker_threads) == 2
    by_thread = {
        thread: [(e.user, e.sql) for e in server.executed if e.thread == thread]
        for thread in worker_threads
    }
    assert sorted(by_thread.values()) == [worker_drops(1), worker_drops(2)]
    # One connection of its own per worker, neither of them the alias's.
    connections = {e.connection for e in server.executed if e.thread != "MainThread"}
    assert len(connections) == 2
    # The alias's own test user goes last, as upstream drops it.
    assert server.statements("main") == [
        ("django", "DROP USER test_django CASCADE"),
        (
            "django",
            "DROP TABLESPACE test_django INCLUDING CONTENTS AND DATAFILES CASCADE CONSTRAINTS",
        ),
        (
            "django",
            "DROP TABLESPACE test_django_temp INCLUDING CONTENTS AND DATAFILES CASCADE CONSTRAINTS",
        ),
    ]
    assert server.executed[-1].thread == "MainThread"


def test_keepdb_teardown_drops_nothing(connection, server):
    teardown_databases([(connection, SERVICE, True)], verbosity=0, parallel=2, keepdb=True)

    assert server.statements() == []


def test_a_failed_worker_drop_is_reported_after_the_rest(connection, server):
    server.fail("DROP USER test_django_2", "ORA-01940: cannot drop a user that is connected")

    with pytest.raises(DatabaseError, match="worker 2: ORA-01940"):
        teardown_databases([(connection, SERVICE, True)], verbosity=0, parallel=2)

    statements = server.statements()
    assert set(worker_drops(1)) <= set(statements)
    assert ("django", "DROP USER test_django CASCADE") in statements


# The guard.


@pytest.mark.parametrize("name", ["test_django", "test_django_1", "TEST_DJANGO_12"])
def test_guard_lets_test_names_through(name):
    guard.check_derived("user", name, ["test_django"], ["django"], ignore_case=True)


@pytest.mark.parametrize(
    "name",
    ["django", "test_djangoo", "test_django_", "test_django_0", "test_django_1x", "system", ""],
)
def test_guard_refuses_names_not_derived_from_the_test_settings(name):
    with pytest.raises(guard.NotATestName, match="Refusing to drop or overwrite the user"):
        guard.check_derived("user", name, ["test_django"], ["django"], ignore_case=True)


def test_guard_refuses_a_real_name_even_when_derived():
    with pytest.raises(guard.NotATestName, match="use it for the real database"):
        guard.check_derived("user", "APP_1", ["app"], ["app_1"], ignore_case=True)


def test_worker_user_named_like_the_main_user_is_never_touched(make_connection, server):
    """Main user app_1 and TEST USER app: worker 1 would be the real schema."""
    connection = make_connection(user="app_1", USER="app", PASSWORD="Configured1")

    with pytest.raises(guard.NotATestName, match="'app_1'"):
        connection.creation.clone_test_db("1", verbosity=0)
    with pytest.raises(DatabaseError, match="worker 1: Refusing"):
        teardown_databases([(connection, SERVICE, True)], verbosity=0, parallel=2)

    assert not [sql for _, sql in server.statements() if re.search(r"\bapp_1\b", sql, re.I)]
