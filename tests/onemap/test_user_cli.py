"""`onemap user …` and `onemap audit …` as an administrator runs them (#15)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.db


def _onemap(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], input=stdin, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": db_url})


def test_user_lifecycle_on_the_command_line(db_engine, db_url) -> None:
    from sqlalchemy import text

    with db_engine.connect() as conn:
        county = conn.scalar(text("SELECT code FROM unit WHERE level = 0 LIMIT 1"))
    weak = _onemap(db_url, "user", "add", "cli_weak", "--role", "viewer", "--unit", county,
                   "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "至少 10 位" in weak.stderr
    added = _onemap(db_url, "user", "add", "cli_leader", "--role", "leader", "--unit", county,
                    "--name", "王局长", "--password-stdin", stdin="Cli-pass-2026!\n")
    assert added.returncode == 0, added.stderr
    listed = _onemap(db_url, "user", "list")
    line = next(x for x in listed.stdout.splitlines() if x.startswith("cli_leader"))
    assert "leader" in line and "领导" in line and county in line
    assert _onemap(db_url, "user", "set-role", "cli_leader", "--role", "viewer").returncode == 0
    assert _onemap(db_url, "user", "lock", "cli_leader").returncode == 0
    token = _onemap(db_url, "user", "token", "cli_leader", "--days", "3")
    assert token.returncode == 0 and token.stdout.strip().startswith("omu_")
    reset = _onemap(db_url, "user", "reset-password", "cli_leader")
    assert reset.returncode == 0 and len(reset.stdout.strip()) >= 10
    with db_engine.connect() as conn:
        row = conn.execute(text("SELECT role, active, must_change_password FROM app_user "
                                "WHERE username = 'cli_leader'")).one()
        actions = [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_log WHERE object_id = 'cli_leader' ORDER BY id"))]
        stored = conn.scalar(text("SELECT token_hash FROM user_token t JOIN app_user u "
                                  "ON u.id = t.user_id WHERE u.username = 'cli_leader'"))
    assert tuple(row) == ("viewer", False, True)
    assert actions == ["user.add", "user.change", "user.change", "token.issue",
                       "user.reset_password"]
    assert stored != token.stdout.strip() and len(stored) == 64  # only the SHA-256 is kept
    verify = _onemap(db_url, "audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stderr
