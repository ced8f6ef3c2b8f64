"""--shard K/N: the partition of a suite's classes between N runs."""

import argparse
import json
import os
import re
import subprocess
import sys
import unittest
from pathlib import Path

import pytest
from django.test import SimpleTestCase, TestCase

from django_overlay.runner import sharding

SHARDS_SCRIPT = Path(__file__).resolve().parent / "scripts" / "django_suite_shards.py"


REORDER_BY = (unittest.loader._FailedTest, TestCase, SimpleTestCase)


def make_tests(name, count, base=SimpleTestCase):
    methods = {f"test_{index}": lambda self: None for index in range(count)}
    test_class = type(name, (base,), {"__module__": "app.tests", **methods})
    return [
        test_class(method) for method in unittest.defaultTestLoader.getTestCaseNames(test_class)
    ]


@pytest.mark.parametrize("value", ["0/4", "5/4", "x", "1/0", "1/", "/4", "-1/4", "1/4/2", "a/b"])
def test_bad_values_are_usage_errors(value):
    with pytest.raises(argparse.ArgumentTypeError, match="is not a shard K/N with 1 <= K <= N"):
        sharding.parse(value)


def test_good_value():
    assert sharding.parse("3/4") == sharding.Shard(3, 4)
    assert str(sharding.parse("1/1")) == "1/1"


def test_balanced_by_durations_longest_first():
    tests = [*make_tests("A", 1), *make_tests("B", 1), *make_tests("C", 1), *make_tests("D", 1)]
    durations = {"app.tests.A": 10.0, "app.tests.B": 6.0, "app.tests.C": 5.0, "app.tests.D": 1.0}
    # A (10) -> 1; B (6) -> 2; C (5) -> 2, which has 6 < 10; D (1) -> 1, 10 < 11.
    shards = sharding.partition(tests, 2, durations)
    assert shards == [{"app.tests.A", "app.tests.D"}, {"app.tests.B", "app.tests.C"}]


def test_parallel_shards_keep_a_long_later_kind_class_alone():
    """
    In a parallel run the TestCase classes go first, so a long SimpleTestCase
    class starts only after the TestCase classes of its shard are handed out:
    its shard gets none, rather than the equal total work alone would give it.
    """
    tests = make_tests("Long", 1) + [
        test for name in ("T1", "T2", "T3", "T4") for test in make_tests(name, 1, TestCase)
    ]
    durations = {"app.tests.Long": 100.0, **{f"app.tests.T{n}": 50.0 for n in range(1, 5)}}
    assert sharding.partition(tests, 2, durations, processes=2, reorder_by=REORDER_BY) == [
        {"app.tests.Long"},
        {"app.tests.T1", "app.tests.T2", "app.tests.T3", "app.tests.T4"},
    ]
    # One process: the total work is the run time.
    assert sharding.partition(tests, 2, durations, processes=1, reorder_by=REORDER_BY) == [
        {"app.tests.Long", "app.tests.T3"},
        {"app.tests.T1", "app.tests.T2", "app.tests.T4"},
    ]


def test_falls_back_to_test_counts():
    tests = [*make_tests("Big", 6), *make_tests("Mid", 3), *make_tests("Small", 3)]
    shards = sharding.partition(tests, 2, {})
    assert shards == [{"app.tests.Big"}, {"app.tests.Mid", "app.tests.Small"}]


def test_ties_broken_by_label_not_by_order():
    tests = [*make_tests("B", 2), *make_tests("A", 2), *make_tests("C", 2)]
    assert sharding.partition(tests, 2, {}) == sharding.partition(list(reversed(tests)), 2, {})
    assert sharding.partition(tests, 2, {})[0] == {"app.tests.A", "app.tests.C"}


def test_more_shards_than_classes_leaves_some_empty():
    tests = make_tests("Only", 3)
    assert sharding.partition(tests, 3, {}) == [{"app.tests.Only"}, set(), set()]
    assert sharding.select(tests, sharding.Shard(2, 3), {})[0] == []


def test_django_suite_shards_cover_it_exactly_once(tmp_path):
    """
    The four shards of Django's own suite, as the overlay's DiscoverRunner
    builds them, hold every test of the suite once. Two of Django's slowest
    classes are given durations, to balance by them as well as by counts.
    """
    durations = tmp_path / "durations.json"
    heavy = ["cache.tests.FileBasedCacheTests", "cache.tests.LocMemCacheTests"]
    durations.write_text(json.dumps({"format": 1, "classes": {heavy[0]: 500.0, heavy[1]: 400.0}}))
    suite_tmp = tmp_path / "tmp"
    suite_tmp.mkdir()
    process = subprocess.run(
        [sys.executable, str(SHARDS_SCRIPT), "4", str(durations)],
        env={**os.environ, "TMPDIR": str(suite_tmp)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr
    listing = json.loads(process.stdout)
    suite, shards = listing["suite"], listing["shards"]
    assert len(suite) > 15000
    assert sorted(test for shard in shards for test in shard) == sorted(suite)
    # Not a degenerate split: every shard has a fair share of the tests.
    assert all(len(shard) > len(suite) / 8 for shard in shards)
    owners = [
        next(
            number
            for number, shard in enumerate(shards)
            if any(t.startswith(f"{label}.") for t in shard)
        )
        for label in heavy
    ]
    assert owners[0] != owners[1]


def test_manage_py_bad_shard_is_a_usage_error(sample):
    run = sample.run("sample_app.tests.test_report", "--shard", "5/4")
    assert run.returncode == 2, run.output
    assert "argument --shard: '5/4' is not a shard K/N" in run.stderr


def test_shards_of_the_sample_project_leave_durations_alone(sample, tmp_path):
    """Both shards run, in parallel, and neither writes the durations file."""
    durations = tmp_path / "durations.json"
    counts = []
    for number in (1, 2):
        run = sample.run(
            "sample_app.tests.test_workers",
            "--parallel",
            "2",
            "--shard",
            f"{number}/2",
            "--durations-file",
            str(durations),
            start_method="spawn",
        )
        run.assert_succeeded()
        counts.append(int(re.search(r"^Ran (\d+) tests?", run.stderr, re.M)[1]))
    assert not durations.exists()
    assert all(counts)


def shard_reports(sample, tmp_path, durations_of_shard):
    """Run the two shards of test_workers, each with its own durations file."""
    reports = []
    for number, classes in durations_of_shard.items():
        durations = tmp_path / f"durations-{number}.json"
        durations.write_text(json.dumps({"format": 1, "classes": classes}))
        report = tmp_path / f"junit-{number}of2.xml"
        run = sample.run(
            "sample_app.tests.test_workers",
            "--parallel",
            "2",
            "--shard",
            f"{number}/2",
            "--durations-file",
            str(durations),
            "--junit-xml",
            str(report),
            start_method="spawn",
        )
        run.assert_succeeded()
        assert re.search(
            rf"^Shard {number}/2: \d+ of the \d+ test\(s\), plan \w+\.$", run.output, re.M
        ), run.output
        reports.append(str(report))
    return reports


def check_shards(*reports):
    return subprocess.run(
        [sys.executable, "-m", "django_overlay.runner.shard_check", *reports],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_shards_given_the_same_durations_pass_the_check(sample, tmp_path):
    reports = shard_reports(sample, tmp_path, {1: {}, 2: {}})
    checked = check_shards(*reports)
    assert checked.returncode == 0, checked.stderr
    assert "2 report(s): the suite's 8 test(s) ran exactly once." in checked.stdout
    # Both reports of one shard: refused.
    twice = check_shards(reports[0], reports[0], reports[1])
    assert twice.returncode == 1
    assert "shard 1/2 is reported 2 times" in twice.stderr
    # One shard's report missing: its tests did not run.
    missing = check_shards(reports[0])
    assert missing.returncode == 1
    assert "the shards reported 4 test(s) of a suite of 8" in missing.stderr


def test_shards_given_different_durations_are_refused(sample, tmp_path):
    """
    Shard 2 was told class A takes 1000 s and the others 1 s, shard 1
    nothing: each split the
    suite its own way, so one class ran in both shards. The runs cannot see
    it; the check of their reports does.
    """
    label = "sample_app.tests.test_workers.OwnDatabaseTests"
    measured = {f"{label}A": 1000.0, f"{label}B": 1.0, f"{label}C": 1.0, f"{label}D": 1.0}
    reports = shard_reports(sample, tmp_path, {1: {}, 2: measured})
    checked = check_shards(*reports)
    assert checked.returncode == 1
    assert "the shards split the suite differently" in checked.stderr
    assert re.search(rf"test\(s\) ran in more than one shard: {label}[BCD]\.", checked.stderr)


def test_a_report_that_is_not_junit_is_a_clear_error(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuites")
    checked = check_shards(str(broken))
    assert checked.returncode == 2
    assert f"{broken}: cannot read it as JUnit XML" in checked.stderr
