"""
--parallel auto counts the CPUs the process may use: DJANGO_TEST_PROCESSES,
PYTHON_CPU_COUNT, the CPU affinity and the cgroup v2 quota (a fake cgroup
tree here), and says at -v 2 what it chose and why (a real run).
"""

import os

import pytest

from django_overlay.runner import processes


@pytest.fixture
def cgroup(tmp_path, monkeypatch):
    """A fake cgroup v2 tree with the process in /ci/job, and nothing set."""
    monkeypatch.delenv("DJANGO_TEST_PROCESSES", raising=False)
    monkeypatch.delenv("PYTHON_CPU_COUNT", raising=False)
    monkeypatch.setattr(processes, "schedulable_cpus", lambda: (8, "8 CPUs (affinity)"))
    root = tmp_path / "cgroup"
    (root / "ci" / "job").mkdir(parents=True)
    proc_self_cgroup = tmp_path / "proc-self-cgroup"
    proc_self_cgroup.write_text("0::/ci/job\n")

    def usable_cpus():
        return processes.usable_cpus(root, proc_self_cgroup)

    usable_cpus.root = root
    return usable_cpus


def test_no_quota_leaves_the_affinity(cgroup):
    (cgroup.root / "cpu.max").write_text("max 100000\n")

    assert cgroup() == (8, "8 CPUs (affinity)")


def test_quota_of_the_process_cgroup_lowers_the_count(cgroup):
    (cgroup.root / "ci" / "job" / "cpu.max").write_text("150000 100000\n")

    count, why = cgroup()

    assert count == 2
    assert why == (
        f"8 CPUs (affinity), limited by the cgroup's CPU quota "
        f"({cgroup.root / 'ci' / 'job' / 'cpu.max'}: 150000 100000)"
    )


def test_strictest_quota_on_the_way_to_the_root_wins(cgroup):
    (cgroup.root / "ci" / "job" / "cpu.max").write_text("400000 100000\n")
    (cgroup.root / "ci" / "cpu.max").write_text("50000 100000\n")

    assert cgroup()[0] == 1


def test_quota_above_the_affinity_changes_nothing(cgroup):
    (cgroup.root / "ci" / "job" / "cpu.max").write_text("1600000 100000\n")

    assert cgroup() == (8, "8 CPUs (affinity)")


def test_cgroup_v1_or_no_cgroup_file(cgroup, tmp_path):
    assert processes.usable_cpus(cgroup.root, tmp_path / "missing") == (8, "8 CPUs (affinity)")
    v1 = tmp_path / "v1"
    v1.write_text("4:cpu,cpuacct:/ci/job\n")
    assert processes.usable_cpus(cgroup.root, v1) == (8, "8 CPUs (affinity)")


def test_python_cpu_count_overrides_the_quota(cgroup, monkeypatch):
    (cgroup.root / "ci" / "job" / "cpu.max").write_text("100000 100000\n")
    monkeypatch.setenv("PYTHON_CPU_COUNT", "3")

    assert cgroup() == (3, "PYTHON_CPU_COUNT=3")


def test_django_test_processes_overrides_everything(cgroup, monkeypatch):
    monkeypatch.setenv("PYTHON_CPU_COUNT", "3")
    monkeypatch.setenv("DJANGO_TEST_PROCESSES", "5")

    assert cgroup() == (5, "DJANGO_TEST_PROCESSES=5")


def test_django_test_processes_that_is_not_a_number_is_an_error(cgroup, monkeypatch):
    # As upstream's.
    monkeypatch.setenv("DJANGO_TEST_PROCESSES", "many")

    with pytest.raises(ValueError):
        cgroup()


def test_affinity_is_counted():
    count, why = processes.schedulable_cpus()

    assert count == len(os.sched_getaffinity(0))
    assert why.startswith(f"{count} CPU")


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_parallel_auto_says_what_it_chose_at_verbosity_2(sample, start_method):
    run = sample.run(
        "sample_app.tests.test_trivial",
        "--parallel",
        "auto",
        "-v",
        "2",
        start_method=start_method,
        env={"PYTHON_CPU_COUNT": "2", "SAMPLE_TRIVIAL_TESTS": "40"},
    )

    run.assert_succeeded()
    assert "--parallel auto: 2 processes, from PYTHON_CPU_COUNT=2." in run.stdout, run.output
