"""
--progress: a display of the run, on stderr beside Django's own output: tests
done out of the total, failures so far, what each worker is running, and an
estimate of the time left.

On a terminal, the display is the last lines of the screen, redrawn in place,
and every byte the run writes goes above it. unittest's result took its
stream before the display started, and workers write to the file descriptors
they inherited: nothing at the level of Python objects sees all of it. So,
while the display is there, the run's file descriptors 2 (and 1, when it is
the same terminal) point at a file of the display's own, which each redraw
copies to the terminal above the display, whole lines only; a line still
being written (unittest's dots, a "test ... " waiting for its "ok") is shown
as the first line of the display until it ends, and written as it is when
the display goes. A file rather than a pipe: a writer never blocks on it,
so no thread has to read it while a test runs.

Off a terminal, a plain line now and then says the same, for a CI log; so
on Windows too, whose console may not take the escape sequences that move
the cursor, and whose spawned workers are given the console's handles
rather than descriptors the parent diverted (never tried there).

It is redrawn when a test starts or ends (and, in a parallel run, whenever
the session looks at its workers), never from a thread of its own: under
fork, a thread running in the parent when it forks a worker (or a
replacement) may hold a lock the child then waits for forever, and even a
thread just stopped and joined can still be there, at the level of the
operating system, when the fork comes.
"""

import os
import sys
import tempfile
import time
import unittest

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

# Off a terminal: how often a plain line says where the run is.
PLAIN_LINE_SECONDS = 30
ERASE_TO_END = "\x1b[J"


class ProgressDisplay:
    def __init__(self, processes, in_process=False):
        self.processes = processes
        # A serial run's tests run in the runner's own process.
        self.in_process = in_process
        self.failures = 0
        self.done = 0
        self.total = 0
        self.started = None
        self.running = {}
        self.bar = Progress(
            TextColumn("[bold]tests"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failures]}"),
            TimeRemainingColumn(),
        )
        self.task_id = None
        self.terminal = None
        self.last_plain_line = 0
        # unittest's dots line (verbosity 1) is still open once a test ran.
        self.dots = False

    def start(self, total, result):
        self.total, self.started = total, time.monotonic()
        self.dots = getattr(result, "dots", False)
        self.task_id = self.bar.add_task("tests", total=total, failures=self.failures_text())
        if os.isatty(2) and os.name == "posix":
            self.terminal = TerminalOutput()
            self.redraw()
        else:
            self.plain_line()

    def failures_text(self):
        return f"{self.failures} failed" if self.failures else "no failures"

    def show_running(self, slot, test):
        if self.running.get(slot) is not test:
            self.running[slot] = test
            self.redraw()

    def test_stopped(self, slot, failed):
        self.done += 1
        if failed:
            self.failures += 1
        self.bar.update(self.task_id, advance=1, failures=self.failures_text())
        if self.terminal is not None:
            self.redraw()
        elif time.monotonic() - self.last_plain_line >= PLAIN_LINE_SECONDS:
            self.plain_line()

    def pump(self):
        """Copy what the run wrote since the last redraw to the terminal."""
        if self.terminal is not None and self.terminal.has_output():
            self.redraw()

    def redraw(self):
        if self.terminal is None:
            return
        lines = [self.bar]
        for slot in range(1, self.processes + 1):
            test = self.running.get(slot)
            name = "running" if self.in_process else f"worker {slot}"
            lines.append(Text(f"{name}: {test.id() if test else 'idle'}", overflow="ellipsis"))
        self.terminal.draw(lines)

    def plain_line(self):
        self.last_plain_line = now = time.monotonic()
        left = ""
        if self.done:
            seconds = (now - self.started) / self.done * (self.total - self.done)
            left = f", about {seconds:.0f} s left"
        print(
            "\n" if self.dots and self.done else "",
            f"[progress] {self.done}/{self.total} tests, {self.failures_text()}{left}",
            sep="",
            file=sys.stderr,
            flush=True,
        )

    def stop(self):
        if self.terminal is not None:
            self.terminal.close()
            self.terminal = None
        elif self.started is not None and self.done:
            self.plain_line()


class ProgressSuite(unittest.TestSuite):
    """
    --progress in a serial run, whose tests run in this process: the display
    follows the result's startTest() and stopTest().
    """

    def run(self, result, debug=False):
        display = ProgressDisplay(1, in_process=True)
        start_test, stop_test = result.startTest, result.stopTest
        failed_so_far = 0

        def failed():
            return len(result.errors) + len(result.failures) + len(result.unexpectedSuccesses)

        def started(test):
            nonlocal failed_so_far
            failed_so_far = failed()
            start_test(test)
            display.show_running(1, test)

        def stopped(test):
            stop_test(test)
            display.test_stopped(1, failed() > failed_so_far)

        display.start(self.countTestCases(), result)
        result.startTest, result.stopTest = started, stopped
        try:
            return super().run(result, debug)
        finally:
            del result.startTest, result.stopTest
            display.stop()


class TerminalOutput:
    """
    The run's output, diverted into a file while the display is shown, and
    copied to the terminal above it (see the module's docstring).
    """

    def __init__(self):
        flush_standard_streams()
        self.screen = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
        self.console = Console(file=self.screen)
        fd, path = tempfile.mkstemp(prefix="django-overlay-output-")
        self.reader = open(path, "rb")
        os.unlink(path)
        # The descriptors the run writes to, and what they were.
        diverted = [2]
        if os.isatty(1) and os.path.samestat(os.fstat(1), os.fstat(2)):
            diverted.insert(0, 1)
        self.saved = {number: os.dup(number) for number in diverted}
        for number in diverted:
            os.dup2(fd, number)
        os.close(fd)
        # A line the run has begun but not ended, and the display's height.
        self.partial = b""
        self.drawn = 0

    def has_output(self):
        flush_standard_streams()
        chunk = self.reader.read()
        self.partial += chunk or b""
        return bool(chunk)

    def draw(self, renderables):
        self.has_output()
        complete, newline, self.partial = self.partial.rpartition(b"\n")
        self.erase()
        if newline:
            self.screen.flush()
            self.screen.buffer.write(complete + newline)
        # Asked of the terminal itself each time (it may have been resized):
        # rich would ask the standard descriptors, which point elsewhere now.
        try:
            columns = os.get_terminal_size(self.screen.fileno()).columns
        except OSError:
            columns = 80
        # One column spare: a line that fills the last one wraps on some terminals.
        width = max(columns - 1, 10)
        if self.partial:
            # Its end, on one line: the display must fit the screen.
            preview = Text.from_ansi(self.partial.decode(errors="replace"), no_wrap=True)
            renderables = [preview[-width:], *renderables]
        with self.console.capture() as capture:
            self.console.print(Group(*renderables), width=width, crop=True)
        text = capture.get().rstrip("\n")
        self.drawn = text.count("\n") + 1
        self.screen.write(text)
        self.screen.flush()

    def erase(self):
        """Move to the first line of the display and clear from there down."""
        if self.drawn:
            up = f"\x1b[{self.drawn - 1}A" if self.drawn > 1 else ""
            self.screen.write(f"\r{up}{ERASE_TO_END}")
        self.drawn = 0

    def close(self):
        # All that was written, Python's buffers included, before the
        # descriptors go back.
        self.has_output()
        for number, saved in self.saved.items():
            os.dup2(saved, number)
            os.close(saved)
        self.erase()
        self.screen.flush()
        self.screen.buffer.write(self.partial)
        self.screen.buffer.flush()
        self.reader.close()
        self.screen.close()


def flush_standard_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
