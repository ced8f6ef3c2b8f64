"""
--failed: a run records its failed tests beside the durations file, and the
next run with --failed runs only those (sample_app/tests/test_robustness.py,
its "failing" case, whose SAMPLE_FAILING says what fails), serial or
parallel. Upstream has no --failed: run with --sample-without-overlay to see
these tests fail.
"""

import json
import re

import pytest

ROBUSTNESS = "sample_app.tests.test_robustness"
# A run that hangs is one of the failures these tests look for; this bounds it.
RUN_TIMEOUT = 90

MODES = {
    "spawn": ("--parallel", "2", "--start-method", "spawn", "--timeout", "3"),
    "fork": ("--parallel", "2", "--start-method", "fork", "--timeout", "3"),
    "serial": ("--parallel", "1"),
}


def run(sample, tmp_path, failing, *arguments, mode="serial"):
    return sample.run(
        ROBUSTNESS,
        "-v",
        "2",
        "--durations-file",
        str(tmp_path / "durations.json"),
        *MODES[mode],
        *arguments,
        env={"SAMPLE_ROBUSTNESS": "failing", "SAMPLE_FAILING": ",".join(failing)},
        timeout=RUN_TIMEOUT,
    )


def recorded(tmp_path):
    return json.loads((tmp_path / "durations.failed.json").read_text())["failed"]


def ran(run):
    return int(re.search(r"^Ran (\d+) tests? in ", run.stderr, re.M)[1])


def selection(run):
    """The tests the start of a --failed run names, as Class.test."""
    match = re.search(
        r"^--failed: running the (\d+) of the \d+ tests found that failed in the previous run:\n((?:  .*\n)*)",
        run.stdout,
        re.M,
    )
    assert match, run.output
    names = [line.strip().removeprefix(f"{ROBUSTNESS}.") for line in match[2].splitlines()]
    assert len(names) == int(match[1])
    return names


def names(*tests):
    """Labels of the sample's tests, as the record lists them: sorted."""
    return sorted(f"{ROBUSTNESS}.{test}" for test in tests)


@pytest.mark.parametrize("mode", MODES)
def test_failed_runs_what_failed_until_it_passes(sample, tmp_path, mode):
    parallel = mode != "serial"
    # A worker crash or a timeout would end a serial run.
    lost = ["crash", "timeout"] if parallel else []
    first = run(
        sample,
        tmp_path,
        ["error", "failure", "subtest", "unexpected-success", "setup", *lost],
        mode=mode,
    )

    assert first.returncode == 1, first.output
    lost_tests = ["CrashOnRequestTests.test_crashes", "TimeoutOnRequestTests.test_times_out"]
    assert recorded(tmp_path) == names(
        *lost_tests[: len(lost)],
        "FailingSetUpClassTests",
        "FailingTests.test_error",
        "FailingTests.test_failure",
        "FailingTests.test_subtest",
        "FailingTests.test_unexpected_success",
    )
    # Written atomically: nothing left beside it. A parallel run with
    # failures also writes what ran before them (order_record).
    beside = sorted(
        path.name for path in tmp_path.iterdir() if path.name.startswith(("durations", "."))
    )
    parallel_files = ["durations.failed.json", "durations.json", "durations.order.txt"]
    assert beside == (parallel_files if parallel else parallel_files[:1])
    durations = (tmp_path / "durations.json").read_text() if parallel else None

    # All fixed but the failure and the crash.
    second = run(sample, tmp_path, ["failure", *lost[:1]], "--failed", mode=mode)

    assert second.returncode == 1, second.output
    expected = sorted(
        [
            *lost_tests[: len(lost)],
            "FailingSetUpClassTests.test_one",
            "FailingSetUpClassTests.test_two",
            "FailingTests.test_error",
            "FailingTests.test_failure",
            "FailingTests.test_subtest",
            "FailingTests.test_unexpected_success",
        ]
    )
    assert sorted(selection(second)) == expected
    assert ran(second) == len(expected)
    assert recorded(tmp_path) == names(*lost_tests[: len(lost[:1])], "FailingTests.test_failure")
    if parallel:
        assert "died (exit code 6) while running" in second.stderr, second.output
        # It ran a few tests of each class: their times would mislead.
        assert (tmp_path / "durations.json").read_text() == durations

    third = run(sample, tmp_path, [], "--failed", mode=mode)

    third.assert_succeeded()
    assert ran(third) == len(selection(third)) == (2 if parallel else 1)
    assert recorded(tmp_path) == []

    fourth = run(sample, tmp_path, [], "--failed", mode=mode)

    fourth.assert_succeeded()
    everything = re.search(
        r"^--failed: no test failed in the previous run \(.*durations\.failed\.json\); "
        r"running all (\d+) tests found\.$",
        fourth.stdout,
        re.M,
    )
    assert everything, fourth.output
    assert ran(fourth) == int(everything[1]) > len(expected)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, r"no earlier run recorded its failed tests in {path}"),
        ("", r"cannot use the record of failed tests {path}: cannot read it \(.*\)"),
        ("{not json", r"cannot use the record of failed tests {path}: cannot read it \(.*\)"),
        ("\xff", r"cannot use the record of failed tests {path}: cannot read it \(.*\)"),
        (
            '["a"]',
            r"cannot use the record of failed tests {path}: it is not a format-1 record of failed tests",
        ),
        (
            '{"format": 1, "failed": "a"}',
            r"cannot use the record of failed tests {path}: its failed tests are not a list of names",
        ),
        ('{"format": 1, "failed": []}', r"no test failed in the previous run \({path}\)"),
        (
            '{"format": 1, "failed": ["gone.Tests.test_x"]}',
            r"none of the tests found is among the 1 recorded as failed in {path}",
        ),
    ],
    ids=[
        "missing",
        "empty-file",
        "not-json",
        "not-text",
        "not-an-object",
        "not-a-list",
        "no-failures",
        "none-found",
    ],
)
def test_failed_without_a_usable_record_runs_everything(sample, tmp_path, content, message):
    record = tmp_path / "durations.failed.json"
    if content is not None:
        record.write_bytes(content.encode("latin-1"))

    failed = run(sample, tmp_path, [], "--failed")

    failed.assert_succeeded()
    found = re.search(r"^Found (\d+) test\(s\)\.$", failed.stdout, re.M)
    assert re.search(
        rf"^--failed: {message.format(path=re.escape(str(record)))}; running all {found[1]} tests found\.",
        failed.stdout,
        re.M,
    ), failed.output
    assert ran(failed) == int(found[1])
    assert "Traceback" not in failed.output
    # Replaced by this run's failures: none.
    assert recorded(tmp_path) == []


def test_a_stopped_failed_run_keeps_what_it_did_not_run(sample, tmp_path):
    """
    --failfast stops at the first test that still fails: the tests after it
    did not run, and stay in the record; the one fixed before it goes.
    """
    assert run(sample, tmp_path, ["error", "failure", "subtest"]).returncode == 1
    assert recorded(tmp_path) == names(
        "FailingTests.test_error", "FailingTests.test_failure", "FailingTests.test_subtest"
    )

    stopped = run(sample, tmp_path, ["failure", "subtest"], "--failed", "--failfast")

    assert stopped.returncode == 1, stopped.output
    assert ran(stopped) == 2
    assert recorded(tmp_path) == names("FailingTests.test_failure", "FailingTests.test_subtest")


def test_a_test_now_skipped_leaves_the_record(sample, tmp_path):
    """Python 3.12+ does not start the tests of a class marked @skip."""
    assert run(sample, tmp_path, ["fail-then-skip"]).returncode == 1
    assert recorded(tmp_path) == names("SkipOnRequestTests.test_fails_unless_skipped")

    skipped = run(sample, tmp_path, ["fail-then-skip", "skip"])

    skipped.assert_succeeded()
    assert recorded(tmp_path) == []


def test_failed_is_not_for_shards(sample, tmp_path):
    refused = run(sample, tmp_path, [], "--failed", "--shard", "1/2")

    assert refused.returncode != 0
    assert "--failed cannot be combined with --shard" in refused.stderr, refused.output
    assert "Traceback" not in refused.stderr
