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
"""

import warnings
from pathlib import Path
from types import SimpleNamespace

from xmlrunner.result import _TestInfo, _XMLTestResult

from . import atomic_files


class JUnitReportWarning(UserWarning):
    pass


class MeasuredTestInfo(_TestInfo):
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
            warnings.warn(
                f"Could not write the JUnit XML report {self.path}: {error}",
                JUnitReportWarning,
                stacklevel=2,
            )
