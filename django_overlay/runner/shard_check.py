"""
python -m django_overlay.runner.shard_check REPORT.xml...: whether the
shards of one split ran the suite exactly once, from their JUnit reports.

Each shard computes the split on its own (sharding), so shards given
different durations, tests or --parallel split differently, and a class can
run twice or not at all without any shard noticing. Each shard's report
carries its shard, the digest of the plan it used and the size of the whole
suite; this check refuses reports whose plans differ, a shard reported
twice, a test reported by two shards, and fewer tests than the suite has.

A shard that took no tests writes no <testsuite>, so no properties: it is
not missed as long as the others' tests add up to the suite.
"""

import argparse
import sys
import xml.etree.ElementTree as ElementTree
from collections import Counter

from . import sharding


class ReportError(Exception):
    pass


def read_report(path):
    """The report's (shard, plan, suite size) and the ids of the tests in it."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise ReportError(f"{path}: cannot read it as JUnit XML ({error})") from None
    properties = {
        element.get("name"): element.get("value")
        for element in root.iter("property")
        if element.get("name", "").startswith("django_overlay.")
    }
    test_ids = {f"{case.get('classname')}.{case.get('name')}" for case in root.iter("testcase")}
    if not test_ids:
        return None, set()
    try:
        plan = (
            properties[sharding.SHARD_PROPERTY],
            properties[sharding.PLAN_PROPERTY],
            int(properties[sharding.SUITE_SIZE_PROPERTY]),
        )
    except (KeyError, ValueError):
        raise ReportError(
            f"{path}: no shard plan in its properties (not written by a --shard run "
            "with --junit-xml?)"
        ) from None
    return plan, test_ids


def problems(reports):
    """What is wrong with the split the reports ((path, read_report()) pairs) show."""
    plans = [(path, plan) for path, (plan, _ids) in reports if plan is not None]
    if not plans:
        return ["no report has any test"]
    found = []
    digests = Counter((shard.split("/")[1], digest) for _path, (shard, digest, _size) in plans)
    if len(digests) > 1:
        listed = ", ".join(f"{path}: shard {plan[0]}, plan {plan[1]}" for path, plan in plans)
        found.append(
            f"the shards split the suite differently ({listed}): give every shard the same "
            "tests, --parallel and durations (--durations-from-junit DIR or --durations-file)"
        )
    for shard, count in Counter(plan[0] for _path, plan in plans).items():
        if count > 1:
            found.append(f"shard {shard} is reported {count} times")
    seen = Counter(test_id for _path, (_plan, ids) in reports for test_id in ids)
    repeated = sorted(test_id for test_id, count in seen.items() if count > 1)
    if repeated:
        found.append(f"{len(repeated)} test(s) ran in more than one shard: {', '.join(repeated)}")
    sizes = {plan[2] for _path, plan in plans}
    # A report can hold more entries than tests (a failing subtest, a class
    # fixture's error), never fewer: fewer means tests that did not run.
    if len(sizes) == 1 and not found and (size := sizes.pop()) > len(seen):
        found.append(f"the shards reported {len(seen)} test(s) of a suite of {size}")
    return found


def main(arguments=None):
    parser = argparse.ArgumentParser(
        prog="python -m django_overlay.runner.shard_check",
        description="Check that the shards of one --shard split ran the suite exactly once.",
    )
    parser.add_argument("reports", nargs="+", metavar="REPORT", help="each shard's --junit-xml")
    options = parser.parse_args(arguments)
    try:
        reports = [(path, read_report(path)) for path in options.reports]
    except ReportError as error:
        print(error, file=sys.stderr)
        return 2
    found = problems(reports)
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        return 1
    tests = sum(len(ids) for _path, (_plan, ids) in reports)
    print(f"{len(reports)} report(s): the suite's {tests} test(s) ran exactly once.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
