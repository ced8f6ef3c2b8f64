"""
--progress: a live display of a parallel run, on stderr beside Django's own
output: tests done out of the total, failures so far, what each worker is
running, and an estimate of the time left. rich draws it and keeps it below
the lines the run prints.

It is redrawn when the session reports a test starting or ending, never from
a thread of its own: under fork, a thread running in the parent when it forks
a worker (or a replacement) may hold a lock the child then waits for forever,
and even a thread just stopped and joined can still be there, at the level of
the operating system, when the fork comes.
"""

import sys

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
        self.live = Live(self.render(), console=console, auto_refresh=False, transient=True)
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
            self.live.update(self.render(), refresh=True)

    def test_stopped(self, slot, failed):
        if failed:
            self.failures += 1
        failures = f"{self.failures} failed" if self.failures else "no failures"
        self.bar.update(self.task_id, advance=1, failures=failures)
        self.live.update(self.render(), refresh=True)

    def stop(self):
        if self.live is not None:
            self.live.stop()
