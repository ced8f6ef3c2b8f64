"""
Sharing a test's database connections with the threads it starts.

Django gives every thread its own connection, so a thread started by a test
(the live server's, a thread pool's in the code under test) cannot see what
the test wrote inside its transaction, and TestCase's rollback cannot undo
what such a thread commits. While shared_connections() is active,
``connections[alias]`` in every thread is the connection of the thread that
entered it, the owner, so all of them work inside the test's transaction.

One DB-API connection must never be used by two threads at once, so a shared
connection holds a re-entrant lock for each use: opening it, making a cursor
and each execute or fetch on it, commit, rollback and savepoints. The lock is
held per operation, never while a thread waits for something else, so the
owner can wait on an HTTP request that the server answers with the shared
connection. An atomic block entered by another thread holds the lock until
it exits: its savepoint is on the one connection, and a block of the owner or
of a second thread opened or closed meanwhile would take the wrong savepoint.
A thread inside an atomic block must therefore not wait for another thread's
database work (a view under ATOMIC_REQUESTS that fans queries out to a thread
pool would deadlock).

Only the owner closes a shared connection: Django's request handling closes
connections at the start and end of each request, and the live server's
threads close theirs when they end, which must not end the test's transaction.

The replacements of ConnectionHandler.__getitem__ and Atomic.__enter__ and
__exit__ below are in the patch registry; they change nothing while no
connection is shared.
"""

import threading
from contextlib import ContextDecorator

from django.db import DEFAULT_DB_ALIAS, NotSupportedError, connections
from django.db.utils import ConnectionHandler

from . import patches

# alias -> _Share, while the alias's connection is shared.
_shares = {}
# A connection class -> its subclass with SharedConnection mixed in.
_shared_classes = {}
# Per thread: one entry per atomic block entered, the lock the block holds
# until it exits, or None.
_atomic_holds = threading.local()


class _Share:
    def __init__(self, handler, connection):
        self.handler = handler
        self.connection = connection
        self.original_class = type(connection)
        self.owner = threading.get_ident()
        self.lock = threading.RLock()
        self.depth = 1

    def owned_here(self):
        return threading.get_ident() == self.owner


class shared_connections(ContextDecorator):
    """
    Share the connections of `databases` (every configured database by
    default) with every thread while active; usable as a decorator.

    Raises NotSupportedError, before sharing anything, for a database whose
    driver forbids using a connection from another thread.
    """

    def __init__(self, databases=None):
        self.databases = databases
        self._entered = []

    def __enter__(self):
        aliases = list(connections if self.databases is None else self.databases)
        start_sharing(aliases)
        self._entered.append(aliases)

    def __exit__(self, *exc_info):
        stop_sharing(self._entered.pop())


def start_sharing(aliases):
    if not patches.is_installed():
        raise RuntimeError(
            "Sharing database connections between threads needs the overlay: "
            "call django_overlay.install() before django.setup()."
        )
    new = []
    for alias in aliases:
        share = _shares.get(alias)
        if share is None:
            connection = connections[alias]
            check_shareable(connection)
            new.append((alias, connection))
        elif not share.owned_here():
            raise RuntimeError(
                f"The connection to database {alias!r} is already shared by another thread."
            )
    for alias in aliases:
        if alias in _shares:
            _shares[alias].depth += 1
    for alias, connection in new:
        share = _Share(connections, connection)
        connection.inc_thread_sharing()
        connection._overlay_share = share
        connection.__class__ = _shared_class(share.original_class)
        _shares[alias] = share


def stop_sharing(aliases):
    for alias in aliases:
        share = _shares[alias]
        share.depth -= 1
        if share.depth == 0:
            del _shares[alias]
            with share.lock:
                share.connection.__class__ = share.original_class
                del share.connection._overlay_share
                share.connection.dec_thread_sharing()


def check_shareable(connection):
    # PEP 249: threadsafety 0 means threads may not even share the module.
    # 1 (mysqlclient) allows a connection to move between threads as long as
    # they never use it at once, which the lock ensures.
    threadsafety = getattr(connection.Database, "threadsafety", 0)
    if threadsafety < 1:
        raise NotSupportedError(
            f"Database {connection.alias!r} cannot be shared between threads: its "
            f"driver {connection.Database.__name__} declares DB-API threadsafety "
            f"{threadsafety}, so its connections may be used only by the thread that "
            "opened them. Test it with django.test.LiveServerTestCase (a "
            "TransactionTestCase) instead."
        )


def _shared_class(original_class):
    try:
        return _shared_classes[original_class]
    except KeyError:
        shared = type(f"Shared{original_class.__name__}", (SharedConnection, original_class), {})
        shared.__module__ = original_class.__module__
        return _shared_classes.setdefault(original_class, shared)


class SharedConnection:
    """
    Mixed into a shared connection's class while it is shared: instance
    attributes (such as the test framework's guards on databases a test may
    not use) keep precedence, and restoring the class undoes it all.
    """

    def _prepare_cursor(self, cursor):
        return LockedCursor(super()._prepare_cursor(cursor), self._overlay_share.lock)

    def close(self):
        if self._overlay_share.owned_here():
            with self._overlay_share.lock:
                super().close()

    def close_if_unusable_or_obsolete(self):
        # In an atomic block autocommit differs from the settings, which
        # makes upstream close the connection: never from another thread.
        if self._overlay_share.owned_here():
            with self._overlay_share.lock:
                super().close_if_unusable_or_obsolete()


def _locked(name):
    def method(self, *args, **kwargs):
        with self._overlay_share.lock:
            return getattr(super(SharedConnection, self), name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


# Every method that uses the DB-API connection or changes the transaction
# state; cursors do the rest (LockedCursor).
for _name in (
    "ensure_connection",
    "connect",
    "_cursor",
    "commit",
    "rollback",
    "set_autocommit",
    "savepoint",
    "savepoint_rollback",
    "savepoint_commit",
    "is_usable",
    "close_if_health_check_failed",
):
    setattr(SharedConnection, _name, _locked(_name))
del _name


class LockedCursor:
    """A cursor of a shared connection: every call on it holds the lock."""

    def __init__(self, cursor, lock):
        self._cursor = cursor
        self._lock = lock

    def __getattr__(self, name):
        attribute = getattr(self._cursor, name)
        if not callable(attribute):
            return attribute

        def locked(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)

        return locked

    def __iter__(self):
        rows = iter(self._cursor)
        while True:
            with self._lock:
                try:
                    row = next(rows)
                except StopIteration:
                    return
            yield row

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            return self._cursor.__exit__(*exc_info)


# Replacements (see patches.py).


def connection_handler_getitem(self, alias):
    """While an alias is shared, every thread gets the owner's connection."""
    share = _shares.get(alias) if _shares else None
    if share is not None and share.handler is self:
        return share.connection
    return super(ConnectionHandler, self).__getitem__(alias)


def atomic_enter(self):
    """
    Enter under the shared connection's lock; in a thread other than the
    owner, keep holding it until the block exits.
    """
    share = _shares.get(self.using or DEFAULT_DB_ALIAS) if _shares else None
    holds = _thread_atomic_holds()
    if share is None:
        patches.original(atomic_enter)(self)
        holds.append(None)
    elif share.owned_here():
        with share.lock:
            patches.original(atomic_enter)(self)
        holds.append(None)
    else:
        share.lock.acquire()
        try:
            patches.original(atomic_enter)(self)
        except BaseException:
            share.lock.release()
            raise
        holds.append(share.lock)


def atomic_exit(self, exc_type, exc_value, traceback):
    held = _thread_atomic_holds().pop()
    share = _shares.get(self.using or DEFAULT_DB_ALIAS) if _shares else None
    try:
        if share is not None and held is None:
            with share.lock:
                return patches.original(atomic_exit)(self, exc_type, exc_value, traceback)
        return patches.original(atomic_exit)(self, exc_type, exc_value, traceback)
    finally:
        if held is not None:
            held.release()


def _thread_atomic_holds():
    try:
        return _atomic_holds.stack
    except AttributeError:
        _atomic_holds.stack = []
        return _atomic_holds.stack
