"""The staff console behind nginx with HTTPS, as deploy/nginx/staff-console.conf ships it (only its
ports and certificate moved): Debian's nginx and a self-signed certificate made by openssl, the
real console process behind it. Plain HTTP is sent to HTTPS; over HTTPS the cookies are Secure
with the ``__Host-`` prefix; logging in works; an address a browser claims is not believed.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import ssl
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import ROOT
from tools.console_http import PASSWORD, Client
from tools.servers import free_port, start_console, stop_processes, wait_until

pytestmark = pytest.mark.system

SITE = ROOT / "deploy" / "nginx" / "staff-console.conf"
NGINX = Path("/usr/sbin/nginx")


def render_site(site: str, http_port: int, https_port: int, console_port: int, cert: Path, key: Path) -> str:
    """The shipped site with its ports and certificate moved to this test's."""
    replacements = [
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        (r"ssl_certificate     \S+;", f"ssl_certificate     {cert};"),
        (r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};"),
        (r"proxy_pass http://127\.0\.0\.1:5056;", f"proxy_pass http://127.0.0.1:{console_port};"),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, replacement, site)
        if count != 1:
            raise ValueError(f"deploy/nginx/staff-console.conf changed shape ({pattern}): update this test")
    return site


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory) -> Iterator[dict]:
    if not NGINX.exists() or shutil.which("openssl") is None:
        pytest.fail("nginx or openssl is missing: `make services` installs them (make test does)")
    work = tmp_path_factory.mktemp("console-nginx")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    console = start_console(work)
    added = console.staff("add-user", "anna", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    http_port, https_port = free_port(), free_port()
    prefix = work / "nginx"
    prefix.mkdir()
    site = prefix / "staff-console.conf"
    site.write_text(render_site(SITE.read_text(), http_port, https_port, console.port, cert, key))
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = prefix / "nginx.conf"
    main.write_text(
        f"worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        f"events {{ worker_connections 64; }}\nhttp {{\n    access_log off;\n{temp}    include {site};\n}}\n"
    )
    nginx = subprocess.Popen(
        [str(NGINX), "-p", str(prefix), "-c", str(main), "-e", str(prefix / "error.log"), "-g", "daemon off;"],
        stdout=(prefix / "stdout.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    tls = ssl.create_default_context(cafile=str(cert))
    try:
        wait_until(lambda: _answers(https_port, tls), 30, what="nginx")
        yield {"http": http_port, "https": https_port, "tls": tls, "console": console}
    finally:
        stop_processes([nginx], timeout=10)
        console.stop()


def _answers(port: int, tls: ssl.SSLContext) -> bool:
    try:
        return Client(port, tls=tls).request("GET", "/login")[0] == 200
    except OSError:
        return False


def test_plain_http_is_sent_to_https(behind_nginx):
    status, headers, _ = Client(behind_nginx["http"]).request("GET", "/login")
    assert (status, headers["location"]) == (301, "https://127.0.0.1/login")


def test_over_https_the_cookies_are_secure_and_logging_in_works(behind_nginx):
    port = behind_nginx["https"]
    client = Client(port, tls=behind_nginx["tls"], origin=f"https://127.0.0.1:{port}", forwarded_for="203.0.113.66")
    status, headers, _ = client.request("GET", "/login")
    assert status == 200 and headers["strict-transport-security"] == "max-age=31536000"
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert client.set_cookies["__Host-console_login"].endswith("; Path=/; HttpOnly; SameSite=Strict; Secure")
    status, headers, _ = client.log_in("anna")
    assert (status, headers["location"]) == (303, "/inbox")
    assert client.set_cookies["__Host-console_session"].endswith("; Path=/; HttpOnly; SameSite=Strict; Secure")
    status, _, page = client.request("GET", "/inbox")
    assert status == 200 and "Signed in as <strong>anna</strong>" in page
    # nginx replaced the address the client claimed with the one it saw.
    with sqlite3.connect(behind_nginx["console"].log.parent / "bookings.db") as connection:
        logins = connection.execute("SELECT address FROM staff_audit WHERE action = 'login'").fetchall()
    assert logins == [("127.0.0.1",)]


def test_the_published_model_is_not_served_through_the_staff_site(behind_nginx):
    port = behind_nginx["https"]
    client = Client(port, tls=behind_nginx["tls"])
    status, _, _ = client.request("GET", "/models/clinic-assistant.tar.gz")
    assert status == 404
