"""
jenkins/oracle-stage.sh where no Docker daemon answers, as on our machines:
the stage checks what it can (the venv, python-oracledb, the overlay's Oracle
patches), then stops with a clear error before starting anything. .ci/run
runs its --dry-run, which goes on to load Django's suite with the Oracle
settings.
"""

import os
import subprocess
import sys
from pathlib import Path

import django
import pytest

# bash, and the venv the Makefile builds.
pytestmark = pytest.mark.external

STAGE = Path(__file__).resolve().parent.parent / "jenkins" / "oracle-stage.sh"


def test_stage_without_a_docker_daemon_fails_clearly(tmp_path):
    environment = {
        **os.environ,
        # The venv this test runs in.
        "PY": "{}.{}".format(*sys.version_info[:2]),
        "DJANGO": "{}.{}".format(*django.VERSION[:2]),
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
    }
    environment.pop("DOCKER_CONTEXT", None)

    stage = subprocess.run(
        ["bash", str(STAGE)], env=environment, capture_output=True, text=True, timeout=300
    )

    assert stage.returncode == 2, stage.stdout + stage.stderr
    assert "The overlay patches Oracle's cloning on Django" in stage.stdout
    assert stage.stderr.strip().endswith(
        "No Docker daemon answers (docker info failed): this stage needs one to run "
        "gvenzl/oracle-free:23-slim."
    )
    assert "Started" not in stage.stdout
