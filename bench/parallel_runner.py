"""
The overlay's parallel runner against upstream's, side by side in one run,
interleaved, medians of --runs.

    python bench/parallel_runner.py overhead [--runs 5] [--tests 2000] [--timeout S]
    python bench/parallel_runner.py scheduling [--runs 3] [--parallel 2 4] [LABEL ...]
    python bench/parallel_runner.py suite [--runs 3] [--parallel 2]

overhead: wall time of the sample project's SAMPLE_TRIVIAL_TESTS trivial
tests (20 a class), --parallel 2, spawn, overlay / upstream, for whole runs
and per test (from runs of N and N/10 tests). The overlay sends each test's
outcome as it happens where upstream sends a class's at its end; the per-test
figure is what that costs. Target: ratio <= 1.05. --timeout S gives the
overlay's runs --timeout (upstream has none), for what watching each test's
deadline costs. The per-test CPU time (user + system, of the run and its
workers) is printed too: on a machine busy with other work, wall time
measures the neighbours as much as the runner.

scheduling: wall time of part of Django's own suite (runtests.py, SQLite,
spawn) with upstream, with the overlay and no recorded durations (classes
ordered by test count), and with the overlay and the durations of an earlier
run (longest first), for each --parallel. Also the idle tail: seconds during
which a worker had nothing left to do while another still ran, summed over
workers (bench/timeline.py), and the workers' busy share of the run.
Target: overlay with durations <= 0.95 x upstream.

suite: the same comparison on Django's whole suite (about eight minutes a
run at --parallel 2 here), where an hour fits only two of the cases: one
overlay run with no durations records them (reported on its own), then
--runs pairs of upstream and the overlay with those durations, interleaved.
"""

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import timeline

ROOT = Path(__file__).resolve().parent.parent
MANAGE_PY = ROOT / "tests" / "sample_project" / "manage.py"
RUNTESTS = ROOT / "runtests.py"
TIMELINE = Path(__file__).resolve().parent / "timeline.py"
# Apps of Django's suite with long and short classes, TestCase and
# TransactionTestCase alike: a few minutes at --parallel 2 here.
DEFAULT_LABELS = [
    "migrations",
    "schema",
    "admin_views",
    "model_fields",
    "queries",
    "backends",
    "transactions",
    "file_storage",
    "cache",
    "forms_tests",
]


def run(command, environment, cwd=None):
    started = time.perf_counter()
    process = subprocess.run(command, env=environment, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if process.returncode not in (0, 1) or "Ran " not in process.stderr:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{process.stderr[-3000:]}")
    return elapsed


def overhead(options):
    """
    Whole runs of N and N/10 tests: the difference between the two is what
    the runner costs per test, apart from what a run costs whatever its size
    (starting workers, importing and installing the overlay).
    """
    sizes = (options.tests, options.tests // 10)
    # Django's modules were byte-compiled when pip installed them; so must
    # the overlay's and the sample project's be, or the overlay's side pays
    # for compiling them in every process (PYTHONDONTWRITEBYTECODE, below,
    # keeps the runs from writing anything).
    compileall.compile_dir(ROOT / "django_overlay", quiet=1)
    compileall.compile_dir(MANAGE_PY.parent, quiet=1)
    times = {(label, size): [] for label in ("upstream", "overlay") for size in sizes}
    cpu_times = {case: [] for case in times}
    for _ in range(options.runs):
        for label, size in times:
            environment = {
                **os.environ,
                "SAMPLE_TRIVIAL_TESTS": str(size),
                "SAMPLE_START_METHOD": "spawn",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            if label == "upstream":
                environment["SAMPLE_WITHOUT_OVERLAY"] = "1"
            with tempfile.TemporaryDirectory() as directory:
                # Recorded durations would reorder the overlay's classes.
                environment["DJANGO_OVERLAY_CACHE"] = directory
                command = [
                    sys.executable,
                    MANAGE_PY,
                    "test",
                    "sample_app.tests.test_trivial",
                    "--parallel",
                    "2",
                    "--noinput",
                ]
                if label == "overlay" and options.timeout:
                    command += ["--timeout", str(options.timeout)]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                times[label, size].append(run(command, environment, cwd=directory))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu_times[label, size].append(
                    after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                )
    median = {case: statistics.median(values) for case, values in times.items()}
    whole = {label: median[label, sizes[0]] for label in ("upstream", "overlay")}
    per_test = {
        label: (median[label, sizes[0]] - median[label, sizes[1]]) / (sizes[0] - sizes[1])
        for label in ("upstream", "overlay")
    }
    print(
        f"overhead tests={sizes[0]} runs={options.runs} parallel=2 spawn "
        f"{f'timeout={options.timeout:g} ' if options.timeout else ''}"
        f"upstream={whole['upstream']:.2f}s overlay={whole['overlay']:.2f}s "
        f"ratio={whole['overlay'] / whole['upstream']:.3f}"
    )
    print(
        f"overhead per-test tests={sizes[0]}-{sizes[1]} runs={options.runs} "
        f"upstream={per_test['upstream'] * 1e6:.0f}us overlay={per_test['overlay'] * 1e6:.0f}us "
        f"ratio={per_test['overlay'] / per_test['upstream']:.3f}"
    )
    cpu_median = {case: statistics.median(values) for case, values in cpu_times.items()}
    cpu_per_test = {
        label: (cpu_median[label, sizes[0]] - cpu_median[label, sizes[1]]) / (sizes[0] - sizes[1])
        for label in ("upstream", "overlay")
    }
    print(
        f"overhead per-test-cpu tests={sizes[0]}-{sizes[1]} runs={options.runs} "
        f"upstream={cpu_per_test['upstream'] * 1e6:.0f}us overlay={cpu_per_test['overlay'] * 1e6:.0f}us "
        f"ratio={cpu_per_test['overlay'] / cpu_per_test['upstream']:.3f}"
    )


def scheduling(options):
    labels = options.labels or DEFAULT_LABELS
    cases = ("upstream", "overlay-unmeasured", "overlay-durations")
    with tempfile.TemporaryDirectory() as scratch:
        for parallel in options.parallel:
            compare("scheduling", cases, labels, parallel, options.runs, Path(scratch))


def suite(options):
    with tempfile.TemporaryDirectory() as scratch:
        for parallel in options.parallel:
            cases = ("upstream", "overlay-durations")
            compare("suite", cases, [], parallel, options.runs, Path(scratch))


def compare(name, cases, labels, parallel, runs, scratch):
    """
    One overlay run to record durations (reported as overlay-recording), then
    `runs` rounds of `cases`, interleaved. The measured runs go on updating
    the recorded durations, as a CI's would.
    """
    recorded = scratch / f"recorded-{parallel}"
    recorded.mkdir()
    results = {"overlay-recording": [], **{case: [] for case in cases}}
    for case in ["overlay-recording"] + list(cases) * runs:
        if case in ("overlay-recording", "overlay-durations"):
            cache = recorded
        else:
            cache = scratch / "empty"
            shutil.rmtree(cache, ignore_errors=True)
            cache.mkdir()
        extra = ["--no-overlay"] if case == "upstream" else []
        wall, tail, busy = run_case(extra, labels, parallel, scratch, cache)
        results[case].append((wall, tail, busy))
        # Runs of the whole suite are long: each one's figures as it ends.
        print(
            f"{name} {case} parallel={parallel} one run: "
            f"wall={wall:.1f}s idle_tail={tail:.1f}s busy={busy:.0%}",
            file=sys.stderr,
            flush=True,
        )
    upstream = statistics.median(wall for wall, _, _ in results["upstream"])
    for case, measured in results.items():
        wall = statistics.median(wall for wall, _, _ in measured)
        tail = statistics.median(tail for _, tail, _ in measured)
        busy = statistics.median(busy for _, _, busy in measured)
        each = " ".join(f"{wall:.1f}" for wall, _, _ in measured)
        print(
            f"{name} {case} parallel={parallel} runs={len(measured)} "
            f"wall={wall:.1f}s idle_tail={tail:.1f}s busy={busy:.0%} "
            f"ratio={wall / upstream:.3f} each=[{each}]",
            flush=True,
        )


def run_case(extra, labels, parallel, scratch, cache):
    timelines = scratch / "timeline"
    shutil.rmtree(timelines, ignore_errors=True)
    timelines.mkdir()
    # The suite's cache directory also holds Django's tests: point at it
    # from the bench's own cache directory.
    suite_cache = Path(
        os.environ.get("DJANGO_OVERLAY_CACHE", Path.home() / ".cache" / "django-overlay")
    )
    for entry in suite_cache.glob("django-*"):
        link = cache / entry.name
        if not link.exists():
            link.symlink_to(entry)
    environment = {**os.environ, "DJANGO_OVERLAY_CACHE": str(cache)}
    command = [
        sys.executable,
        TIMELINE,
        timelines,
        RUNTESTS,
        *extra,
        "--start-method",
        "spawn",
        "--parallel",
        str(parallel),
        "--noinput",
        *labels,
    ]
    wall = run(command, environment)
    tail, busy = timeline.idle_tail(timelines)
    return wall, tail, busy


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    overhead_parser = commands.add_parser("overhead")
    overhead_parser.add_argument("--runs", type=int, default=5)
    overhead_parser.add_argument("--tests", type=int, default=2000)
    overhead_parser.add_argument("--timeout", type=float)
    scheduling_parser = commands.add_parser("scheduling")
    scheduling_parser.add_argument("--runs", type=int, default=3)
    scheduling_parser.add_argument("--parallel", type=int, nargs="+", default=[2, 4])
    scheduling_parser.add_argument("labels", nargs="*")
    suite_parser = commands.add_parser("suite")
    suite_parser.add_argument("--runs", type=int, default=3)
    suite_parser.add_argument("--parallel", type=int, nargs="+", default=[2])
    options = parser.parse_args()
    {"overhead": overhead, "scheduling": scheduling, "suite": suite}[options.command](options)


if __name__ == "__main__":
    main()
