"""
--junit-xml: the run's results as a JUnit XML file, for CI servers to show and
archive (and for --durations-from-junit to balance the next split).

unittest-xml-reporting writes the XML; its result class is a TextTestResult,
so the console output stays what it was. It is the runner's result in serial
and parallel runs alike: a parallel run replays each worker's events into it.
A replayed test starts and stops at once in the parent, so a test's time is
the one unittest measured where the test ran (addDuration, Python 3.12+;
before that, parallel runs can only give the replay's time). The file is
written when the run stops, also after Ctrl-C, into a temporary file renamed
into place (atomic_files), so a reader never sees half a report; a report
that cannot be written is a warning, and the run's summary still follows.

A test that was rerun (--reruns) has one <testcase>, its last run's, holding
an element for each failed run before it, as Maven Surefire writes them (and
as pytest-rerunfailures is to write them for pytest): <flakyFailure> or
<flakyError> when the test passed in the end, <rerunFailure> or
<rerunError> when it did not, each with the type and message of that run's
failure and its traceback in a <stackTrace> element.
"""

import io
import re
from pathlib import Path
from types import SimpleNamespace
from xml.dom import minidom

from xmlrunner.result import _TestInfo, _XMLTestResult, safe_unicode

from . import atomic_files
from .notices import warn

OUTPUT_ELEMENTS = {"system-out", "system-err"}


class JUnitReportWarning(UserWarning):
    pass


def testcase_key(info):
    """The classname and name of info's <testcase>, as unittest-xml-reporting writes them."""
    classname = re.sub(r"^__main__.", "", info.id()).split(" ")[0].rpartition(".")[0]
    return classname, _XMLTestResult._test_method_name(info.test_id)


class MeasuredTestInfo(_TestInfo):
    def __init__(self, test_result, test_method, *args, **kwargs):
        super().__init__(test_result, test_method, *args, **kwargs)
        # The first <testcase> of the test (one per failed subtest) holds them.
        self.reruns = test_result.pending_reruns.pop(test_method.id(), [])

    def test_finished(self):
        super().test_finished()
        if self.test_result.measured_duration is not None:
            self.elapsed_time = self.test_result.measured_duration


class JUnitXMLResult(_XMLTestResult):
    def __init__(self, stream, descriptions, verbosity, *, path, properties=None, durations=None):
        # properties: a shard's plan (sharding), on every <testsuite>.
        super().__init__(
            stream, descriptions, verbosity, properties=properties, infoclass=MeasuredTestInfo
        )
        # What TextTestResult would keep for TextTestRunner's --durations report.
        self.durations = durations
        self.path = Path(path)
        self.measured_duration = None
        # Test id -> failed runs before its last (reruns), until its outcome.
        self.pending_reruns = {}

    def addReruns(self, test, attempts):
        """The failed runs before test's last, which the session is about to report."""
        self.pending_reruns[test.id()] = attempts

    def generate_reports(self, test_runner):
        """
        unittest-xml-reporting's report; with reruns, the elements for them
        are added to their tests' <testcase> (its own hooks are static and
        called on its class, so the document is amended after it is made).
        """
        reruns = {
            testcase_key(info): info.reruns
            for infos in self._get_info_by_testcase().values()
            for info in infos
            if info.reruns
        }
        if not reruns:
            super().generate_reports(test_runner)
            return
        report = io.BytesIO()
        super().generate_reports(SimpleNamespace(output=report, outsuffix="", encoding="utf-8"))
        document = minidom.parseString(report.getvalue())
        for testcase in document.getElementsByTagName("testcase"):
            key = (testcase.getAttribute("classname"), testcase.getAttribute("name"))
            passed = not any(testcase.getElementsByTagName(tag) for tag in ("failure", "error"))
            # Before <system-out> and <system-err>, where Surefire's schema has them.
            output = next(
                (node for node in testcase.childNodes if node.nodeName in OUTPUT_ELEMENTS), None
            )
            for attempt in reruns.pop(key, []):
                kind = "Error" if attempt.error else "Failure"
                element = document.createElement(f"{'flaky' if passed else 'rerun'}{kind}")
                element.setAttribute("type", attempt.type_name)
                element.setAttribute("message", safe_unicode(attempt.message))
                stack_trace = document.createElement("stackTrace")
                _XMLTestResult._createCDATAsections(
                    document, stack_trace, safe_unicode(attempt.traceback)
                )
                element.appendChild(stack_trace)
                testcase.insertBefore(element, output)
        test_runner.output.write(document.toxml(encoding="utf-8"))

    def startTest(self, test):
        self.measured_duration = None
        super().startTest(test)

    def addDuration(self, test, elapsed):
        super().addDuration(test, elapsed)
        self.measured_duration = elapsed

    def stopTestRun(self):
        super().stopTestRun()
        self.write_report()

    def write_report(self):
        try:
            # What generate_reports() reads of an XMLTestRunner: one
            # <testsuites> document written to a stream.
            atomic_files.write_atomically(
                self.path,
                lambda file: self.generate_reports(
                    SimpleNamespace(output=file, outsuffix="", encoding="utf-8")
                ),
            )
        except OSError as error:
            # The run's summary is still to be printed; losing it too would
            # be worse.
            warn(
                f"Could not write the JUnit XML report {self.path}: {error}",
                JUnitReportWarning,
            )
