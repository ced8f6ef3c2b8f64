"""
Order-dependent failures explained: a parallel run records, for each failing
test, the classes its worker ran before it and a command that reruns that
sequence serially; --discovery-order keeps Django's order of classes; the
run says which order it used.

The sample's LeavesStateBehindTests leaves a module global set, and the
Victim classes fail on a worker that ran it before them only.
"""

import re
import shlex
import sys

from django_overlay.runner.order_record import OrderRecord

ORDER = {"SAMPLE_ORDER_DEPENDENT": "1"}
LEAVER = "sample_app.tests.test_order.LeavesStateBehindTests"


def sections(record):
    """Failing test id -> (classes run before it, the rerun command's words)."""
    found = {}
    for section in record.split("\n\n"):
        test_id, _failed_on, *lines = section.strip().splitlines()
        before = [line.strip() for line in lines[: lines.index("The same sequence, serially:")]]
        found[test_id] = (before, shlex.split(lines[-1]))
    return found


def test_a_failing_test_names_the_classes_its_worker_ran_before_it(sample, tmp_path):
    durations = tmp_path / "durations.json"
    run = sample.run(
        "sample_app.tests.test_order",
        "--parallel",
        "2",
        "--discovery-order",
        "--durations-file",
        str(durations),
        start_method="spawn",
        env=ORDER,
    )
    assert run.returncode == 1, run.output
    assert "handed to the workers in the suite's order (--discovery-order)" in run.stdout
    record_path = tmp_path / "durations.order.txt"
    assert f"commands that rerun them serially: {record_path}" in run.stderr, run.output
    failures = sections(record_path.read_text())
    # The leaver's worker takes a victim next, while the other sleeps in one.
    assert failures, run.output
    for test_id, (before, command) in failures.items():
        assert re.fullmatch(
            r"sample_app\.tests\.test_order\.Victim[A-D]Tests\.test_nothing_left_behind", test_id
        )
        assert before[0] == LEAVER
        arguments = command[command.index("test") + 1 :]
        assert arguments[-len(before) - 1 :] == [*before, test_id]
        assert arguments[arguments.index("--parallel") + 1] == "1"
    # The command reproduces the failure; the test alone passes.
    test_id, (_before, command) = sorted(failures.items())[0]
    rerun = sample.run(*command[command.index("test") + 1 :], env=ORDER)
    assert rerun.returncode == 1, rerun.output
    assert re.search(r"^Ran \d+ tests", rerun.stderr, re.M)
    assert f"FAIL: test_nothing_left_behind ({test_id.rsplit('.', 1)[0]}" in rerun.stderr
    sample.run(test_id, env=ORDER).assert_succeeded()


def test_a_run_without_failures_leaves_no_record(sample, tmp_path):
    durations = tmp_path / "durations.json"
    stale = tmp_path / "durations.order.txt"
    stale.write_text("an earlier run's record\n")
    run = sample.run(
        "sample_app.tests.test_workers",
        "--parallel",
        "2",
        "--durations-file",
        str(durations),
        start_method="spawn",
    )
    run.assert_succeeded()
    assert "handed to the workers longest first" in run.stdout
    assert not stale.exists()


def test_the_rerun_command_drops_labels_and_order_options(monkeypatch):
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "manage.py",
            "test",
            "--parallel",
            "app.tests",
            "-v",
            "2",
            "--shuffle",
            "42",
            "--reverse",
            "--parallel=4",
            "--settings",
            "project.settings",
            "--failed",
            "--shuffle",
            "other",
        ],
    )
    record = OrderRecord(["app.tests", "other"])
    assert record.rerun_prefix() == [
        sys.executable,
        "manage.py",
        "test",
        "-v",
        "2",
        "--settings",
        "project.settings",
        "--parallel",
        "1",
    ]
