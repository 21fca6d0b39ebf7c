"""The staff console's app (console/app.py) in this process, through its ASGI interface (Sanic's
own, without a server: no test client library added), over a real SQLite database. The console's
clock is a moment the tests move, so timeouts and waits are walked through without sleeping.
Shared by the console's in-process tests (tests/test_console*.py)."""

from __future__ import annotations

import asyncio
import itertools
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple
from urllib.parse import unquote, urlencode

from argon2 import PasswordHasher
from sanic import Sanic

from clinic.booking_store import BookingStore
from clinic.console_records import ConsoleRecords
from clinic.settings import PROJECT_ROOT
from clinic.staff_accounts import SessionPolicy, StaffAccounts
from console.app import ConsoleConfig, build_app

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"
POLICY = SessionPolicy(idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
HOST = "console.test"
_names = itertools.count()

# Sanic rewrites some of its own methods when an app starts; a second app started in the same
# process then rewrites the rewritten ones and fails. In test mode (what Sanic's own test client
# sets) each start begins from the originals. Set for the whole process, never undone: an app
# started later without it would meet rewritten methods again.
Sanic.test_mode = True


@dataclass
class Reply:
    status: int
    headers: List[Tuple[str, str]]
    body: str

    def header(self, name: str) -> Optional[str]:
        return next((value for key, value in self.headers if key == name.lower()), None)

    def cookies(self) -> Dict[str, str]:
        """Set-Cookie headers by cookie name: the whole header, attributes included."""
        found = {}
        for key, value in self.headers:
            if key == "set-cookie":
                found[value.split("=", 1)[0]] = value
        return found

    @property
    def csrf_token(self) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', self.body).group(1)


@dataclass
class Browser:
    """A browser's part, enough for the console: it keeps cookies and sends them back."""

    app: object
    loop: asyncio.AbstractEventLoop
    peer: str = "127.0.0.1"
    cookies: Dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form=None, headers=None, body: Optional[bytes] = None) -> Reply:
        sent = [("host", HOST)] + list((headers or {}).items())
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            sent.append(("content-type", "application/x-www-form-urlencoded"))
        if self.cookies:
            sent.append(("cookie", "; ".join(f"{name}={value}" for name, value in self.cookies.items())))
        reply = self.loop.run_until_complete(self._call(method, path, sent, body or b""))
        for name, header in reply.cookies().items():
            value = header.split(";", 1)[0].split("=", 1)[1].strip('"')
            if "Max-Age=0" in header:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return reply

    async def _call(self, method, path, headers, body) -> Reply:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent = []

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path.split("?", 1)[0]),  # decoded, as ASGI servers give it
            "raw_path": path.split("?", 1)[0].encode(),
            "query_string": (path.split("?", 1)[1] if "?" in path else "").encode(),
            "root_path": "",
            "headers": [(key.lower().encode(), value.encode()) for key, value in headers],
            "client": (self.peer, 50000),
            "server": ("127.0.0.1", 5056),
        }
        await self.app(scope, receive, send)
        start = next(message for message in sent if message["type"] == "http.response.start")
        body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
        headers = [(key.decode().lower(), value.decode()) for key, value in start["headers"]]
        return Reply(start["status"], headers, body.decode())

    def get(self, path: str, **options) -> Reply:
        return self.request("GET", path, **options)

    def post(self, path: str, form=None, **options) -> Reply:
        return self.request("POST", path, form=form, **options)

    def log_in(self, name: str, password: str = PASSWORD, headers=None) -> Reply:
        token = self.get("/login", headers=headers).csrf_token
        return self.post("/login", {"csrf_token": token, "username": name, "password": password}, headers=headers)


@dataclass
class Console:
    accounts: StaffAccounts
    app: object
    clock: List[datetime]
    loop: asyncio.AbstractEventLoop
    records: Optional[ConsoleRecords] = None

    def browser(self, peer: str = "127.0.0.1") -> Browser:
        return Browser(self.app, self.loop, peer)

    def advance(self, **delta) -> None:
        self.clock[0] += timedelta(**delta)

    def actions(self) -> List[Tuple[str, str, Optional[str]]]:
        return [(entry.actor, entry.action, entry.address) for entry in reversed(self.accounts.audit_log())]


def make_console(
    tmp_path,
    secure_cookies: bool = False,
    data_dir: Path = PROJECT_ROOT / "data",
    tracker_db_url: Optional[str] = None,
    profile_path: Optional[Path] = None,
) -> Console:
    """The console's app on a fresh database in ``tmp_path``, with the user anna; its topic files
    in ``data_dir`` (tests that change them give a copy), its conversations at ``tracker_db_url``,
    its clinic.yml at ``profile_path`` (a copy; none by default)."""
    store = BookingStore(f"sqlite:///{tmp_path / 'bookings.db'}").open()
    accounts = StaffAccounts(store.engine, hasher=CHEAP).create_tables()
    records = ConsoleRecords(store.engine).create_tables()
    accounts.add_user("anna", PASSWORD, T0)
    clock = [T0]
    config = ConsoleConfig(
        policy=POLICY,
        secure_cookies=secure_cookies,
        clinic_name="Example <Clinic>",
        data_dir=data_dir,
        tracker_db_url=tracker_db_url,
        profile_path=profile_path,
    )
    app = build_app(accounts, config, now=lambda: clock[0], name=f"console_test_{next(_names)}", records=records)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(start(app))
    return Console(accounts, app, clock, loop, records)


@contextmanager
def running_console(tmp_path, **options) -> Iterator[Console]:
    """``make_console(tmp_path, **options)`` for the block, stopped after it."""
    console = make_console(tmp_path, **options)
    try:
        yield console
    finally:
        stop_console(console)
        console.loop.close()


def signed_in(console: Console, name: str = "anna") -> Browser:
    """A browser logged in as ``name``."""
    browser = console.browser()
    assert browser.log_in(name).status == 303
    return browser


def stop_console(console: Console) -> None:
    for task in asyncio.all_tasks(console.loop):
        task.cancel()
    console.loop.run_until_complete(asyncio.sleep(0))


async def start(app) -> None:
    """The ASGI lifespan's start: Sanic readies its routers and signals there, as under a server."""
    events = asyncio.Queue()
    started = asyncio.Event()
    await events.put({"type": "lifespan.startup"})

    async def send(message):
        if message["type"] == "lifespan.startup.complete":
            started.set()

    asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, events.get, send))
    await asyncio.wait_for(started.wait(), 10)
