"""The action server checks the clinic profile and the hand-off settings before it listens,
and refuses to start with a message naming the bad field or variable."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from tests.conftest import ROOT


def start(tmp_path, **env):
    result = subprocess.run(
        [sys.executable, "-m", "actions.server", "--port", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT), BOOKINGS_DB_URL=f"sqlite:///{tmp_path / 'b.db'}", **env),
    )
    return result.returncode, result.stderr


def test_a_bad_profile_field_stops_the_server_and_is_named(tmp_path):
    profile = yaml.safe_load((ROOT / "clinic.yml").read_text())
    profile["timezone"] = "Mars/Olympus"
    bad = tmp_path / "clinic.yml"
    bad.write_text(yaml.safe_dump(profile))
    code, stderr = start(tmp_path, CLINIC_PROFILE=str(bad))
    assert code == 2
    assert "cannot start" in stderr and "timezone" in stderr and "Mars/Olympus" in stderr


def test_a_webhook_without_a_secret_stops_the_server(tmp_path):
    code, stderr = start(tmp_path, CLINIC_BOOKING_WEBHOOK_URL="http://127.0.0.1:9/bookings", CLINIC_WEBHOOK_SECRET="")
    assert code == 2 and "CLINIC_WEBHOOK_SECRET" in stderr


def test_email_without_an_inbox_stops_the_server(tmp_path):
    code, stderr = start(tmp_path, SMTP_HOST="127.0.0.1", CLINIC_BOOKING_EMAIL="")
    assert code == 2 and "CLINIC_BOOKING_EMAIL" in stderr
