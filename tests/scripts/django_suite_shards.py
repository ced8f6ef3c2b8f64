"""
Print, as JSON, the test ids of Django's own suite (for the installed Django)
and of each of its --shard K/N parts, as the overlay's DiscoverRunner builds
them: {"suite": [...], "shards": [[...], ...]}.

Run by tests/test_sharding.py in a process of its own: loading the suite
imports every test module and configures Django for Django's test settings.
Arguments: N, then the durations file to balance by.
"""

import contextlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import django

REPOSITORY = Path(__file__).resolve().parents[2]


def main():
    count, durations_file = int(sys.argv[1]), sys.argv[2]
    sys.path.insert(0, str(REPOSITORY))
    from runtests import find_suite

    # stdout is for the JSON: runtests.py says there when it downloads the suite.
    with contextlib.redirect_stdout(sys.stderr):
        suite = find_suite(django.get_version())
    sys.path.insert(0, str(suite))
    os.chdir(suite)
    os.environ["DJANGO_SETTINGS_MODULE"] = "test_sqlite"

    import django_overlay

    django_overlay.install()
    spec = importlib.util.spec_from_file_location("django_runtests", suite / "runtests.py")
    django_runtests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(django_runtests)
    labels, _ = django_runtests.setup_run_tests(0, None, None, [])

    from django.test.runner import DiscoverRunner
    from django.test.utils import iter_test_cases

    def test_ids(shard=None):
        runner = DiscoverRunner(verbosity=0, shard=shard, durations_file=durations_file)
        return [test.id() for test in iter_test_cases(runner.build_suite(labels))]

    json.dump(
        {
            "suite": test_ids(),
            "shards": [test_ids(f"{number}/{count}") for number in range(1, count + 1)],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
