"""
Database setup that cannot finish: said in one line (with exit status 1 under
the test command), and nothing left behind.

Upstream meets these with a traceback, or worse:

- A server that cannot be reached: some 200 lines of chained tracebacks,
  whose last line, for some drivers, names neither the host nor the port. Each
  server is connected to once before anything is created (check_servers()),
  and one that refuses is one line naming the alias, the vendor, the host,
  the port and the driver's message; the test command shows the traceback
  only at verbosity 2.
- Ctrl-C: unittest's handler, which the runner installs before setup, takes
  the first one for a request to stop the tests that have not started yet,
  so setup goes on; a second one leaves the test databases made so far on
  the server. During setup Ctrl-C and SIGTERM end it at once instead
  (unfinished()), and the test databases it made are dropped.
- A test database left by an interrupted run, without --noinput: upstream
  asks whether to replace it, and when standard input is not a terminal the
  question either dies with EOFError (stdin closed, as in CI) or waits
  forever (stdin an open pipe). Without a terminal to ask on, the run stops
  before anything is created, telling the user to pass --noinput
  (check_nothing_to_ask()).

Only test databases this run made are dropped: an alias's test database is
this run's once upstream's create_test_db() has pointed the alias at it (it
made it, or replaced one left behind), its clones with it; with --keepdb
nothing is, as a kept database is meant to outlive runs. Every name goes
through the guard first.
"""

import sys
import warnings
from contextlib import contextmanager

from django.db import utils

from ..backends import guard
from .interruption import interruptible


class SetupFailed(Exception):
    """Database setup could not go on, for the reason its one line says."""


class SetupInterrupted(KeyboardInterrupt):
    """
    Ctrl-C or SIGTERM during database setup, once what it made is dropped. A
    KeyboardInterrupt still, so that pytest (the plugin) stops as it does on
    Ctrl-C; the test command makes both this and SetupFailed one line and
    exit status 1 (discover.setup_databases()).
    """


def check_servers(planned):
    """
    Connect once to the server of each alias in planned, as creating its test
    database will, and raise SetupFailed if one cannot be reached.
    """
    tried = set()
    for connection, _test_name in planned:
        settings_dict = connection.settings_dict
        server = (
            connection.vendor,
            settings_dict["HOST"],
            settings_dict["PORT"],
            settings_dict["USER"],
        )
        if connection.features.test_databases_are_files or server in tried:
            continue
        tried.add(server)
        try:
            with warnings.catch_warnings():
                # A backend may warn that it will try another database
                # instead; the line below says what went wrong.
                warnings.simplefilter("ignore", RuntimeWarning)
                with connection._nodb_cursor():
                    pass
        except utils.Error as error:
            host = settings_dict["HOST"] or "localhost"
            port = settings_dict["PORT"] or "its default port"
            message = " ".join(str(error).split())
            raise SetupFailed(
                f"Cannot connect to the database server of alias '{connection.alias}' "
                f"({connection.vendor}, host {host}, port {port}): {message}"
            ) from error


def check_nothing_to_ask(planned):
    """
    Upstream asks whether to replace a test database that exists; without a
    terminal on standard input nobody can answer. Checked only without a
    terminal: a question on a terminal is asked, as upstream asks it.
    """
    if sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty():
        return
    for connection, test_name in planned:
        if connection.creation.test_db_exists(test_name):
            raise SetupFailed(
                f"The test database {test_name!r} of alias '{connection.alias}' exists "
                "already (left by an interrupted run?), and standard input is not a "
                "terminal to ask whether to replace it. Pass --noinput to replace it "
                "without asking."
            )


@contextmanager
def unfinished(planned, parallel, verbosity, keepdb):
    """
    Setup, ended at once by Ctrl-C or SIGTERM; when it does not finish, for
    whatever reason, the test databases it made are dropped (none with
    keepdb).
    """
    real_names = {connection.alias: connection.settings_dict["NAME"] for connection, _ in planned}
    try:
        with interruptible():
            yield
    except BaseException as error:
        if keepdb:
            what = "its test databases kept (--keepdb)"
        elif dropped := drop_made(planned, real_names, parallel, verbosity):
            what = f"dropped {', '.join(map(repr, dropped))}"
        else:
            what = "nothing to drop"
        if isinstance(error, KeyboardInterrupt):
            how = f" ({error})" if str(error) else ""
            raise SetupInterrupted(f"Database setup was interrupted{how}: {what}.") from None
        if isinstance(error, EOFError):
            # Asked after all: a test database appeared since the check.
            raise SetupFailed(
                f"No answer on standard input ({what}). Pass --noinput to replace "
                "test databases left by an earlier run without asking."
            ) from error
        raise


def drop_made(planned, real_names, parallel, verbosity):
    """
    Drop the test databases (and their clones) of the aliases upstream's
    create_test_db() pointed at theirs; return their names.
    """
    dropped = []
    for connection, test_name in planned:
        if connection.settings_dict["NAME"] != test_name:
            continue
        creation = connection.creation
        if creation.is_test_db_in_memory(test_name):
            # Nothing on disk but, under spawn, its snapshot for the workers.
            creation.destroy_test_db(real_names[connection.alias], verbosity=verbosity)
            continue
        for index in range(parallel if parallel > 1 else 0):
            suffix = str(index + 1)
            clone_name = creation.get_test_db_clone_settings(suffix)["NAME"]
            if creation.test_db_exists(clone_name):
                guard.check_test_database(connection, clone_name)
                creation.destroy_test_db(suffix=suffix, verbosity=verbosity)
                dropped.append(clone_name)
        if creation.test_db_exists(test_name):
            guard.check_test_database(connection, test_name)
            creation.destroy_test_db(real_names[connection.alias], verbosity=verbosity)
            dropped.append(test_name)
    return dropped
