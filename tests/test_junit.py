"""
--junit-xml: one report of every outcome, serial and parallel, on each start
method, valid JUnit XML; and the parallel runs' per-test names and times
(sample_app/tests/test_junit.py has a test of each outcome).

Upstream Django has no --junit-xml. Its parallel runs also give a test
skipped with @skip, and every later test of its class, the index of the test
before on Python 3.12+; test_skips_keep_their_names fails with
--sample-without-overlay there.
"""

import re
import sys
from pathlib import Path

import pytest
from lxml import etree

from django_overlay.runner.durations import from_junit

JUNIT = "sample_app.tests.test_junit"
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "schemas" / "junit.xsd")))
EXPECTED = {
    "OutcomeTests.test_passes": None,
    "OutcomeTests.test_slow": None,
    "OutcomeTests.test_fails": ("failure", "AssertionError"),
    "OutcomeTests.test_subtests (number=1)": ("failure", "AssertionError"),
    "OutcomeTests.test_errors": ("error", "ValueError"),
    "OutcomeTests.test_unpicklable_error": ("error", "RuntimeError"),
    "OutcomeTests.test_skipped": ("skipped", "skip"),
    "OutcomeTests.test_expected_failure": ("skipped", "XFAIL"),
    ".setUpClass (sample_app.tests.test_junit.SetUpClassErrorTests)": ("error", "RuntimeError"),
}


def outcomes(document):
    found = {}
    for testcase in document.iter("testcase"):
        label = f"{testcase.get('classname').removeprefix(JUNIT + '.')}.{testcase.get('name')}"
        children = [child for child in testcase if child.tag in {"failure", "error", "skipped"}]
        found[label] = (children[0].tag, children[0].get("type")) if children else None
    return found


@pytest.mark.parametrize(
    "arguments",
    [
        ("--parallel", "1"),
        ("--parallel", "2", "--start-method", "spawn"),
        ("--parallel", "2", "--start-method", "fork"),
    ],
    ids=["serial", "spawn", "fork"],
)
def test_report(sample, tmp_path, arguments):
    report = tmp_path / "reports" / "junit.xml"
    run = sample.run(JUNIT, *arguments, "--junit-xml", str(report), env={"SAMPLE_JUNIT": "1"})
    assert run.returncode == 1, run.output
    assert run.leftovers == []
    document = etree.parse(str(report))
    assert SCHEMA.validate(document), SCHEMA.error_log
    assert outcomes(document) == EXPECTED
    (slow,) = document.xpath("//testcase[@name='test_slow']")
    # Measured where the test ran, not when its events were replayed; workers
    # report durations from Python 3.12 on.
    measured = sys.version_info >= (3, 12) or arguments[1] == "1"
    if measured:
        assert float(slow.get("time")) >= 0.25
    (errors,) = document.xpath("//testcase[@name='test_errors']/error")
    assert 'raise ValueError("broken on purpose")' in errors.text
    # No temporary file is left beside the report.
    assert [path.name for path in report.parent.iterdir()] == ["junit.xml"]
    durations = from_junit([report.parent])
    assert durations[f"{JUNIT}.OutcomeTests"] >= (0.25 if measured else 0)


def test_skips_keep_their_names(sample):
    run = sample.run(
        f"{JUNIT}.OutcomeTests",
        f"{JUNIT}.SetUpClassErrorTests",
        "--parallel",
        "2",
        "-v",
        "2",
        start_method="spawn",
        env={"SAMPLE_JUNIT": "1"},
    )
    assert re.search(
        r"^test_skipped \(.*\) \.\.\. skipped 'skipped on purpose'$", run.stderr, re.M
    ), run.output
    assert re.search(r"^test_slow \(.*\) \.\.\. ok$", run.stderr, re.M), run.output


def test_junit_xml_refuses_debug_sql(sample, tmp_path):
    run = sample.run(JUNIT, "--junit-xml", str(tmp_path / "j.xml"), "--debug-sql")
    assert run.returncode != 0
    assert "--junit-xml cannot be combined with --debug-sql or --pdb" in run.stderr
