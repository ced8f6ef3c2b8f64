"""
Parallel runs of the sample project's cache tests (sample_app/tests/
test_caches.py) with two workers on each cache backend, against real servers:
the Redis CI provides, and a memcached started here on a port of its own.

With the overlay every worker has a namespace of its own: the tests pass, a
key set outside the run's namespace is still there after it, and nothing of
the run is left in the server or the cache directory. Without it
(--sample-without-overlay, or the upstream_sample tests below) the workers
read each other's values and clear() wipes the other worker's keys.

Redis is shared with other users of the machine: these tests use their own
database number and a key prefix unique to the pytest process, and nothing
here ever runs FLUSHDB (upstream's clear() is skipped on Redis).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

MANAGE_PY = Path(__file__).resolve().parent / "sample_project" / "manage.py"
CACHE_RUN = ("sample_app.tests.test_caches", "--parallel", "2")
CLEARING_RUN = ("sample_app.tests.test_cache_clearing",)
REDIS_DATABASE = 5
REDIS_URL = (
    f"redis://{os.environ.get('DJANGO_OVERLAY_REDIS_HOST', '127.0.0.1')}:6379/{REDIS_DATABASE}"
)
OUTSIDE_VALUE = b"set before the run, outside its namespace"


class RedisServer:
    """Keys under a prefix of this pytest process's own, in our own database."""

    def __init__(self, kind):
        import redis

        self.client = redis.Redis.from_url(REDIS_URL)
        try:
            self.client.ping()
        except redis.ConnectionError as error:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error}", pytrace=False)
        self.prefix = f"overlay-issue5-{uuid.uuid4().hex[:8]}"
        self.outside_key = f"{self.prefix}:outside"
        self.client.set(self.outside_key, OUTSIDE_VALUE)
        self.env = {
            "SAMPLE_CACHE": kind,
            "SAMPLE_CACHE_LOCATION": REDIS_URL,
            "SAMPLE_CACHE_KEY_PREFIX": self.prefix,
        }

    def assert_only_outside_key_left(self):
        assert self.client.get(self.outside_key) == OUTSIDE_VALUE
        left = sorted(key.decode() for key in self.client.scan_iter(match=f"*{self.prefix}*"))
        assert left == [self.outside_key]

    def discard(self):
        keys = list(self.client.scan_iter(match=f"*{self.prefix}*"))
        if keys:
            self.client.delete(*keys)
        self.client.close()


class MemcachedServer:
    """A memcached of our own, started on a free port for the session."""

    def __init__(self, directory):
        executable = shutil.which("memcached")
        if executable is None:
            pytest.fail(
                "memcached is not installed: apt-get install memcached (.ci/run does)",
                pytrace=False,
            )
        self.port = free_port()
        command = [executable, "-p", str(self.port), "-U", "0", "-l", "127.0.0.1"]
        if os.geteuid() == 0:
            # memcached refuses to run as root unless told which user to be.
            command += ["-u", "root"]
        self.process = subprocess.Popen(command, cwd=directory)
        self.location = f"127.0.0.1:{self.port}"
        self.wait_until_up()

    def wait_until_up(self):
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"memcached did not start on port {self.port}") from None
                time.sleep(0.05)

    def client(self):
        from pymemcache.client.base import Client

        return Client(("127.0.0.1", self.port))

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class MemcachedCache:
    """One test's use of the session's memcached: it starts empty but for the outside key."""

    def __init__(self, server, kind):
        self.client = server.client()
        # The server is ours alone.
        self.client.flush_all()
        self.outside_key = "outside"
        self.client.set(self.outside_key, OUTSIDE_VALUE)
        self.env = {"SAMPLE_CACHE": kind, "SAMPLE_CACHE_LOCATION": server.location}

    def assert_only_outside_key_left(self):
        assert self.client.get(self.outside_key) == OUTSIDE_VALUE
        assert int(self.client.stats()[b"curr_items"]) == 1

    def discard(self):
        self.client.close()


class FileCache:
    def __init__(self, directory):
        self.directory = directory
        self.directory.mkdir()
        self.outside_file = directory / "outside.djcache"
        self.outside_file.write_bytes(OUTSIDE_VALUE)
        self.env = {"SAMPLE_CACHE": "file", "SAMPLE_CACHE_LOCATION": str(directory)}

    def assert_only_outside_key_left(self):
        assert sorted(self.directory.iterdir()) == [self.outside_file]
        assert self.outside_file.read_bytes() == OUTSIDE_VALUE

    def discard(self):
        pass


class ProcessCache:
    """locmem and database: nothing of them outlives the run."""

    def __init__(self, kind):
        self.env = {"SAMPLE_CACHE": kind}

    def assert_only_outside_key_left(self):
        pass

    def discard(self):
        pass


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def memcached_server(tmp_path_factory):
    server = MemcachedServer(tmp_path_factory.mktemp("memcached"))
    yield server
    server.stop()


@pytest.fixture
def cache_backend(request, tmp_path):
    """The sample project's cache, chosen by indirect parametrization."""
    kind = request.param
    if kind in {"redis", "django-redis"}:
        backend = RedisServer(kind)
    elif kind in {"pymemcache", "pylibmc"}:
        pytest.importorskip(kind)
        backend = MemcachedCache(request.getfixturevalue("memcached_server"), kind)
    elif kind == "file":
        backend = FileCache(tmp_path / "file-cache")
    else:
        backend = ProcessCache(kind)
    yield backend
    backend.discard()


ALL_CACHES = ["redis", "django-redis", "pymemcache", "pylibmc", "file", "locmem", "database"]


@pytest.mark.parametrize("cache_backend", ALL_CACHES, indirect=True)
@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_each_worker_has_its_own_cache(sample, cache_backend, start_method):
    run = sample.run(*CACHE_RUN, start_method=start_method, env=cache_backend.env)

    run.assert_ran_on_two_workers(start_method)
    cache_backend.assert_only_outside_key_left()


@pytest.mark.parametrize("cache_backend", ["redis", "django-redis"], indirect=True)
def test_shared_redis_runs_pass_every_time(sample, cache_backend):
    for _ in range(3):
        run = sample.run(*CACHE_RUN, start_method="spawn", env=cache_backend.env)

        run.assert_ran_on_two_workers("spawn")
        cache_backend.assert_only_outside_key_left()


@pytest.mark.parametrize("cache_backend", ["redis", "pymemcache", "file"], indirect=True)
def test_upstream_workers_share_the_cache(upstream_sample, cache_backend):
    """Why: without the overlay the workers read each other's values."""
    run = upstream_sample.run(*CACHE_RUN, start_method="spawn", env=cache_backend.env)

    assert run.returncode == 1, run.output
    assert "FAIL: test_shared_keys_hold_this_workers_values" in run.stderr, run.output


@pytest.mark.parametrize("cache_backend", ["pymemcache", "file"], indirect=True)
def test_upstream_clear_wipes_the_other_workers_keys(upstream_sample, cache_backend):
    """And clear() empties the whole server or directory, the outside key with it."""
    run = upstream_sample.run(*CACHE_RUN, start_method="spawn", env=cache_backend.env)

    assert "FAIL: test_clear_leaves_the_other_workers_keys" in run.stderr, run.output
    with pytest.raises(AssertionError):
        cache_backend.assert_only_outside_key_left()


@pytest.mark.parametrize(
    "cache_backend", ["redis", "pymemcache", "file", "database"], indirect=True
)
@pytest.mark.parametrize(
    "how",
    [("--isolate-cache",), ("--isolate-cache", "--parallel", "2")],
    ids=["serial", "parallel"],
)
def test_isolate_cache_clears_between_tests(sample, cache_backend, how):
    run = sample.run(
        *CLEARING_RUN,
        *how,
        start_method="spawn",
        env={**cache_backend.env, "SAMPLE_EXPECT_CLEARED_CACHE": "1"},
    )

    run.assert_succeeded()
    assert "Ran 11 tests" in run.stderr, run.output
    cache_backend.assert_only_outside_key_left()


@pytest.mark.parametrize("cache_backend", ["locmem"], indirect=True)
def test_isolate_cache_from_the_environment(sample, cache_backend):
    run = sample.run(
        *CLEARING_RUN,
        "--parallel",
        "2",
        start_method="fork",
        env={
            **cache_backend.env,
            "SAMPLE_EXPECT_CLEARED_CACHE": "1",
            "DJANGO_TEST_ISOLATE_CACHE": "1",
        },
    )

    run.assert_succeeded()


@pytest.mark.parametrize("cache_backend", ["locmem"], indirect=True)
def test_without_isolate_cache_entries_outlive_their_test(sample, cache_backend):
    """The sample tests can fail: without clearing, every test but the first finds an entry."""
    run = sample.run(*CLEARING_RUN, env={**cache_backend.env, "SAMPLE_EXPECT_CLEARED_CACHE": "1"})

    assert run.returncode == 1, run.output
    assert "FAILED (failures=10)" in run.stderr, run.output


def test_bad_isolate_cache_variable_is_a_clear_error(sample):
    run = sample.run(*CLEARING_RUN, env={"DJANGO_TEST_ISOLATE_CACHE": "yes"})

    assert run.returncode != 0
    assert "DJANGO_TEST_ISOLATE_CACHE='yes': expected 1 or 0" in run.stderr, run.output


@pytest.mark.parametrize("cache_backend", ["redis", "file"], indirect=True)
def test_killed_workers_namespace_is_swept_by_the_parent(sample, cache_backend):
    run = sample.run(
        *CACHE_RUN,
        start_method="spawn",
        env={**cache_backend.env, "SAMPLE_WORKER_EXIT_AFTER_WRITE": "1"},
        timeout=60,
    )

    assert "died (exit code 3)" in run.stderr, run.output
    cache_backend.assert_only_outside_key_left()


@pytest.mark.parametrize("cache_backend", ["redis"], indirect=True)
def test_outside_test_runs_keys_are_upstreams(sample, cache_backend, tmp_path):
    """Only test runs are isolated: the project's own commands use upstream's keys."""
    subprocess.run(
        [
            sys.executable,
            str(MANAGE_PY),
            "shell",
            "-c",
            "from django.core.cache import cache; cache.set('app-key', 1)",
        ],
        env={**sample.base_environment(), **cache_backend.env},
        cwd=tmp_path,
        check=True,
        timeout=60,
    )

    assert cache_backend.client.exists(f"{cache_backend.prefix}:1:app-key")
