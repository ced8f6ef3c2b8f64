"""
The overlay's test runner.

A parallel run: the suite that ties it to Django's runner (suite), the
session that hands out classes and decides what a lost worker means
(session), in the order the schedule gives (scheduling, durations); the
pool that owns the worker processes (pool), what runs in each of them
(worker), and what the two say to each other (protocol); test outcomes that
always pickle (outcomes), with stand-ins for what does not (stand_ins); what
spawned workers take from the parent
(parity); each worker's descendants and deadlines (process_groups,
job_objects, watchdog, left_threads); --reruns (reruns) and the record of
what ran before a failure (order_record); --progress (progress); Ctrl-C
and SIGTERM (interruption).

Around it: the DiscoverRunner options (discover); test databases (databases,
alias_copies, schema_templates, schema_fingerprint, failed_setup); --shard
(sharding, shard_check); --failed (failed_tests); --junit-xml (junit);
--parallel auto (processes); files written whole (atomic_files); the
warnings a run gives while it goes on, never raised (notices).

DiscoverRunner (setting) is for projects that choose the overlay with the
TEST_RUNNER setting instead of calling django_overlay.install() in manage.py.
"""


def __getattr__(name):
    # Imported on first use: the pytest plugin imports this package for its
    # test databases' modules, and importing Django's runner with it would
    # load the overlay's whole runner, whose patches wait for Django's.
    if name == "DiscoverRunner":
        from .setting import DiscoverRunner

        return DiscoverRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
