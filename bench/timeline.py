"""
Records when each worker of a parallel run starts and finishes each TestCase
class, for bench/parallel_runner.py, with upstream's runner and the overlay's
alike: it wraps the suite's run_subsuite, which both call once per class.

    python bench/timeline.py DIRECTORY SCRIPT [ARGUMENTS...]

runs SCRIPT as __main__ (runtests.py, manage.py) with the wrapper in place;
each worker appends "start end cpu label" lines to DIRECTORY/<pid>, cpu being
the seconds of CPU the worker used meanwhile and label naming the class, so
that two runs can be compared class by class, and a class that took longer
told apart as one that worked more (cpu) or one that waited (for the CPU, a
subprocess, a sleep).
"""

import os
import runpy
import sys
import time

DIRECTORY_VARIABLE = "BENCH_TIMELINE_DIRECTORY"


def record_subsuite(args):
    from django_overlay import patches

    if patches.is_installed():
        from django_overlay.runner.worker import run_subsuite
    else:
        from django.test.runner import _run_subsuite as run_subsuite
    # Both runners' arguments: (runner_class, number, subsuite, failfast, buffer).
    test = next(iter(args[2]))
    label = f"{type(test).__module__}.{type(test).__qualname__}"
    started = time.time()
    cpu = time.process_time()
    try:
        return run_subsuite(args)
    finally:
        cpu = time.process_time() - cpu
        path = os.path.join(os.environ[DIRECTORY_VARIABLE], str(os.getpid()))
        with open(path, "a") as timeline:
            timeline.write(f"{started} {time.time()} {cpu} {label}\n")


def install():
    from django.test import runner

    from django_overlay.runner import suite

    runner.ParallelTestSuite.run_subsuite = record_subsuite
    suite.ParallelTestSuite.run_subsuite = record_subsuite


def idle_tail(directory):
    """
    Seconds during which a worker had nothing left to do before the last
    one finished, summed over workers, and the classes' share of the
    workers' time (1.0: no worker was ever idle).
    """
    spans = {}
    for name in os.listdir(directory):
        with open(os.path.join(directory, name)) as timeline:
            spans[name] = [tuple(map(float, line.split()[:2])) for line in timeline]
    if not spans:
        return 0.0, 0.0
    first = min(start for worker in spans.values() for start, _ in worker)
    last = max(end for worker in spans.values() for _, end in worker)
    tail = sum(last - max(end for _, end in worker) for worker in spans.values())
    busy = sum(end - start for worker in spans.values() for start, end in worker)
    return tail, busy / (len(spans) * (last - first))


if __name__ == "__main__":
    os.environ[DIRECTORY_VARIABLE] = os.path.abspath(sys.argv[1])
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    script = sys.argv[2]
    sys.argv = sys.argv[2:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    # Through its module name, so that workers can find the wrapper: while
    # the script runs, __main__ is the script.
    import timeline

    timeline.install()
    runpy.run_path(script, run_name="__main__")
