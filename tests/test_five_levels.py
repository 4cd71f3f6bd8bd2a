"""The five-level deployment's tests (``tests/five_levels``) in a pytest of their own, since a
deployment's levels are read when a process starts (``ONEMAP_LEVELS``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from onemap.settings import PROJECT_ROOT

pytestmark = [pytest.mark.db, pytest.mark.slow]


def test_a_five_level_deployment_works_end_to_end(settings, db_url) -> None:
    env = {**os.environ, "ONEMAP_LEVELS": "city,county,town,village,grid",
           "ONEMAP_TEST_DB_NAME": f"{settings.test_db_name}_five"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(PROJECT_ROOT / "tests" / "five_levels")],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    print(done.stdout[-20_000:], done.stderr[-5_000:])
    assert done.returncode == 0, done.stdout[-6_000:]
    assert " passed" in done.stdout and " skipped" not in done.stdout
