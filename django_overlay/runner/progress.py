"""
--progress: a live display of a parallel run, on stderr beside Django's own
output: tests done out of the total, failures so far, what each worker is
running, and an estimate of the time left. rich draws it and keeps it below
the lines the run prints.

rich redraws it from a thread of its own, which the session starts after the
workers and pauses while it starts a replacement, so that no worker is
forked while the thread runs.
"""

import sys
from contextlib import contextmanager

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text


class ProgressDisplay:
    def __init__(self, processes):
        self.processes = processes
        self.failures = 0
        self.running = {}
        self.bar = Progress(
            TextColumn("[bold]tests"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failures]}"),
            TimeRemainingColumn(),
        )
        self.task_id = None
        self.live = None

    def start(self, total):
        self.task_id = self.bar.add_task("tests", total=total, failures="no failures")
        console = Console(file=sys.stderr)
        self.live = Live(self.render(), console=console, refresh_per_second=4, transient=True)
        self.live.start()

    def render(self):
        lines = [self.bar]
        for slot in range(1, self.processes + 1):
            test = self.running.get(slot)
            lines.append(Text(f"worker {slot}: {test.id() if test else 'idle'}", overflow="ellipsis"))
        return Group(*lines)

    def show_running(self, slot, test):
        if self.running.get(slot) is not test:
            self.running[slot] = test
            self.live.update(self.render())

    def test_stopped(self, slot, failed):
        if failed:
            self.failures += 1
        failures = f"{self.failures} failed" if self.failures else "no failures"
        self.bar.update(self.task_id, advance=1, failures=failures)
        self.live.update(self.render())

    @contextmanager
    def paused(self):
        """
        Without its refresh thread, for starting a worker: under fork the
        thread must not be running when the parent forks. Paused under every
        start method, for one rule: a replacement is rare, its redraw cheap.
        """
        self.live.stop()
        try:
            yield
        finally:
            self.live.start()

    def stop(self):
        if self.live is not None:
            self.live.stop()
