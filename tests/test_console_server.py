"""The staff console as it runs: ``python -m console`` in its own process, spoken to over HTTP, with
users made by ``python -m actions.staff add-user``. The in-process tests (test_console.py) cover
the pages in detail; these show the real process keeps the same rules, and where it listens.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Iterator

import pytest

from tests.conftest import ROOT
from tools.console_http import Client
from tools.servers import RunningConsole, server_env, start_console

pytestmark = pytest.mark.servers

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[RunningConsole]:
    running = start_console(tmp_path_factory.mktemp("console"))
    try:
        for name in ("anna", "bob"):
            added = running.staff("add-user", name, "--password-stdin", stdin=PASSWORD + "\n")
            assert added.returncode == 0, added.stderr
        yield running
    finally:
        running.stop()


def test_pages_without_a_session_lead_to_login(console):
    client = Client(console.port)
    for path in ("/", "/inbox"):
        status, headers, _ = client.request("GET", path)
        assert (status, headers["location"]) == (303, "/login")
    status, headers, page = client.request("GET", "/login")
    assert status == 200 and "<title>Log in" in page
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"


def test_a_post_without_its_csrf_token_is_refused(console):
    client = Client(console.port)
    client.token()  # the login page's cookie, but a form without the token
    status, _, page = client.request("POST", "/login", {"username": "anna", "password": PASSWORD})
    assert status == 403 and "security token was missing or wrong" in page
    status, headers, _ = client.log_in("anna")
    assert (status, headers["location"]) == (303, "/inbox")
    status, _, page = client.request("POST", "/logout", {})
    assert status == 403 and "did not come from your session" in page
    status, _, page = client.request("GET", "/inbox")
    assert status == 200 and "Signed in as <strong>anna</strong>" in page
    status, headers, _ = client.request("POST", "/logout", {"csrf_token": client.token("/inbox")})
    assert (status, headers["location"]) == (303, "/login")
    assert client.request("GET", "/inbox")[0] == 303


def test_five_wrong_passwords_then_the_sixth_try_is_refused_even_when_right(console):
    client = Client(console.port, forwarded_for="203.0.113.9")  # as nginx on this machine would say
    for _ in range(5):
        status, _, page = client.log_in("bob", "not the password")
        assert status == 401 and "Wrong username or password." in page
    status, headers, page = client.log_in("bob")
    assert status == 429 and 25 <= int(headers["retry-after"]) <= 30
    assert re.search(r"Try again after \d\d:\d\d:\d\d UTC \(in \d+ seconds\)\.", page), page
    assert "console_session" not in client.cookies
    assert Client(console.port, forwarded_for="198.51.100.4").log_in("bob")[0] == 429  # the user waits from anywhere
    log = console.log.read_text()
    assert PASSWORD not in log and "not the password" not in log


def test_a_large_body_is_refused_before_it_is_read(console):
    client = Client(console.port)
    status, _, _ = client.request("POST", "/login", body=b"x" * 100_000)
    assert status == 413


def listening_addresses(port: int) -> set:
    """Where a socket listens on ``port``, from the kernel's tables (hex address as /proc shows it)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


def test_the_console_listens_on_loopback_only_by_default(console):
    assert listening_addresses(console.port) == {"0100007F"}  # 127.0.0.1, nothing else


def test_the_console_refuses_to_serve_the_network_in_plain_http(tmp_path):
    env = server_env(BOOKINGS_DB_URL=f"sqlite:///{tmp_path / 'bookings.db'}", CONSOLE_HOST="0.0.0.0")
    refused = subprocess.run(
        [sys.executable, "-m", "console"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert "The staff console cannot start: CONSOLE_HOST=0.0.0.0" in refused.stderr
    assert "CONSOLE_SECURE_COOKIES=1" in refused.stderr
