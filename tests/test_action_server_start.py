"""The action server checks the clinic profile and the hand-off settings before it listens,
and refuses to start with a message naming the bad field or variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.servers


def start(tmp_path, **env):
    result = subprocess.run(
        [sys.executable, "-m", "actions.server", "--port", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
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


def test_retention_removes_only_requests_older_than_the_profile_says(tmp_path):
    import asyncio
    from datetime import datetime, timedelta, timezone

    from clinic.booking_store import BookingStore, NewBooking
    from clinic.retention import keep_retention

    store = BookingStore(f"sqlite:///{tmp_path / 'b.db'}").open()
    now = datetime.now(timezone.utc)
    for age_days in (100, 10):
        store.save(
            NewBooking(
                "booking",
                "Old Or New",
                None,
                "x@mail.example",
                now + timedelta(days=3),
                "soon",
                "America/New_York",
                now - timedelta(days=age_days),
            ),
            (),
            now - timedelta(days=age_days),
        )

    async def one_pass():
        task = asyncio.create_task(keep_retention(store, 90, every_seconds=60))
        await asyncio.sleep(0.5)
        task.cancel()

    asyncio.run(one_pass())
    kept = store.list()
    assert len(kept) == 1 and kept[0].created_at > now - timedelta(days=11)


def test_a_failing_action_answers_500_without_echoing_the_tracker(tmp_path):
    import json
    import urllib.error
    import urllib.request

    from tools.servers import free_port, wait_for

    port = free_port()
    log = tmp_path / "actions.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "actions.server", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), BOOKINGS_DB_URL=f"sqlite:///{tmp_path / 'b.db'}"),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process, log, timeout=60)
        # A tracker the action cannot work with, carrying a visitor's details.
        body = json.dumps(
            {
                "next_action": "action_clarify_topic",
                "version": "3.6.21",
                "domain": {},
                "tracker": {
                    "sender_id": "v",
                    "slots": {"full_name": "Wendeline Sprock", "email": "w.sprock@mail.example"},
                    "latest_message": {},
                    "events": "not a list",
                    "paused": False,
                    "followup_action": None,
                    "active_loop": {},
                    "latest_action_name": None,
                },
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhook", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=10)
            status, answer = 200, b""
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert status == 500
    assert b"Sprock" not in answer and b"mail.example" not in answer
    assert "Sprock" not in log.read_text() and "action_clarify_topic failed" in log.read_text()
