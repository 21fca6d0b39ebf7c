"""The staff console's pages and the rules every request goes through, wired in ``build_app``.

- ``GET /login``, ``POST /login``: the login form. A visitor without a session gets a random
  CSRF token in a cookie of its own and the same token in the form; the POST must carry both.
- ``GET /``: to the inbox.
- ``GET /inbox`` and its forms: what visitors asked that the assistant could not answer
  (``console/inbox.py``).
- ``GET /topics`` and its forms: the FAQ topics, edited in their files (``console/topics.py``).
- ``GET /publish``, ``GET /history`` and their forms: publishing the files' changes to visitors,
  and undoing a publish (``console/publishing.py``), and the published model for the Rasa servers.
- ``GET /insights``: charts of how the assistant is doing, ``make report``'s numbers (``console/insights.py``).
- ``GET /requests`` and its forms: booking and callback requests, their delivery, handled,
  resent, exported, a visitor erased (``console/requests.py``).
- ``GET /users`` and its forms, for admins: the console's users and their roles (``console/users.py``).
- ``GET /conversations``, ``/conversations/<id>``: the transcripts, masked unless revealed
  (``console/conversations.py``).
- ``GET /clinic`` and its form: the clinic's details, edited in clinic.yml by admins (``console/clinic.py``).
- ``POST /logout``: ends the session.
- ``GET /static/console.css``: the one stylesheet.

Every page but ``/login`` (and the stylesheet) sends a visitor without a live session to
``/login`` with a 303. Every POST carries a CSRF token, tied to the session (or, for the login
form, to the pre-session cookie), and is refused with a 403 and the reason otherwise. Every
response carries the security headers of ``console/web.py``; pages are never cached. Every
staff action goes to the audit log (``Pages.audit``). What only an admin may do is refused to
staff with a 403 (``Pages.admin_only``), and its links and buttons are not shown to them.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import quote

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic import clock, published_model
from clinic.booking_store import BookingStore
from clinic.clinic_file import ClinicFile
from clinic.console_records import ConsoleRecords
from clinic.profile import ClinicProfile, ClinicProfileError, ProfileFile
from clinic.settings import PROJECT_ROOT
from clinic.staff_accounts import SessionPolicy, StaffAccounts, StaffSession, failure_keys
from clinic.topic_files import TopicFiles
from console import clinic, conversations, inbox, insights, publishing, requests, topics, users, web
from console.web import redirect

HERE = Path(__file__).resolve().parent
PUBLIC_PATHS = ("/login",)
# Not for staff: the Rasa servers fetch the model with their own token (console/publishing.py).
SERVER_PATHS = (published_model.URL_PATH,)
STATIC_PREFIX = "/static/"
# The largest form is a new topic: fifteen or more examples and an answer, a few KB; a topic's
# 110 examples ticked for removal at once come to about 12 KB.
MAX_BODY_BYTES = 64 * 1024
# Argon2id takes 64 MiB and about 0.15 s per check: two at a time keep a burst of logins from
# taking the machine's memory, and match its two cores.
CONCURRENT_PASSWORD_CHECKS = 2


@dataclass(frozen=True)
class ConsoleConfig:
    """What the console needs besides the accounts, read once at start."""

    policy: SessionPolicy
    secure_cookies: bool
    clinic_name: str = "the clinic"
    data_dir: Path = PROJECT_ROOT / "data"  # CONSOLE_DATA_DIR: the topic files staff change
    tracker_db_url: Optional[str] = None  # the conversation store the inbox reads; None: no inbox
    model_path: Path = PROJECT_ROOT / "models" / "clinic-assistant.tar.gz"  # CONSOLE_MODEL: what Publish replaces
    model_server_token: Optional[str] = None  # MODEL_SERVER_TOKEN: the Rasa servers' key to the model; None: not served
    profile_path: Optional[Path] = None  # CLINIC_PROFILE: the clinic.yml the Clinic page edits; None: none


@dataclass
class Pages:
    """What the pages of ``console/inbox.py``, ``console/topics.py`` and ``console/insights.py`` share."""

    config: ConsoleConfig
    accounts: StaffAccounts
    records: ConsoleRecords
    files: TopicFiles
    conversations: Optional[sa.engine.Engine]
    now: Callable[[], datetime]
    render: Callable[..., HTTPResponse]
    bookings: Optional[BookingStore] = None  # the booking store, on the accounts' engine
    clinic_file: Optional[ClinicFile] = None
    watched_profile: Optional[ProfileFile] = None

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> HTTPResponse:
        """A page for the signed-in staff member (the header's name, whether they are an admin,
        the log-out form's token)."""
        staff: StaffSession = request.ctx.staff
        return self.render(
            template,
            status=status,
            staff=staff.user.name,
            admin=staff.user.is_admin,
            csrf_token=staff.csrf_token,
            **values,
        )

    def profile(self) -> Optional[ClinicProfile]:
        """The clinic's profile as clinic.yml says now (the last good one while the file is bad);
        None without one."""
        if self.watched_profile is None:
            return None
        try:
            return self.watched_profile.current()
        except ClinicProfileError:
            return None

    @staticmethod
    def is_admin(request: Request) -> bool:
        """Whether the signed-in staff member is an admin."""
        staff: StaffSession = request.ctx.staff
        return staff.user.is_admin

    def admin_only(self, request: Request, action: str = "do this") -> Optional[HTTPResponse]:
        """None for an admin; for anyone else the 403 page saying only admins may.

        A handler starts with ``if (refusal := pages.admin_only(request, "...")): return refusal``.
        """
        if self.is_admin(request):
            return None
        return self.page(
            request,
            "refused.html",
            status=403,
            section=None,
            reason=f"Admins only. Only an admin can {action}. Your account is a staff account: ask an admin of the console.",
        )

    async def audit(self, request: Request, action: str, detail: Optional[str] = None) -> None:
        """One line in the audit log: this staff member, now, from this address."""
        staff: StaffSession = request.ctx.staff
        await asyncio.to_thread(
            self.accounts.audit, self.now(), staff.user.name, action, web.client_address(request), detail
        )

    async def record(self, request: Request, change: Any) -> None:
        """A saved change of a topic file or clinic.yml into the history, with its diff and the
        text before and after."""
        await asyncio.to_thread(
            self.records.record_change,
            self.now(),
            self.actor(request),
            change.topic,
            change.action,
            change.summary,
            change.diff,
            change.before,
            change.after,
        )

    @staticmethod
    def actor(request: Request) -> str:
        staff: StaffSession = request.ctx.staff
        return staff.user.name


def conversation_path(conversation: str) -> str:
    """A conversation's page (its id URL-encoded whole: a REST sender may hold any character)."""
    return "/conversations/" + quote(conversation, safe="")


def templates() -> Environment:
    """The console's Jinja2 templates, every value escaped unless a template says otherwise."""
    environment = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["conversation_path"] = conversation_path
    return environment


def wait_text(until: datetime, now: datetime) -> str:
    """When a login may be tried again, in words: "after 14:05:30 UTC (in 30 seconds)"."""
    seconds = max(1, math.ceil((until - now).total_seconds()))
    span = f"{seconds} seconds" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
    return f"after {until:%H:%M:%S} UTC (in {span})"


def build_app(
    accounts: StaffAccounts,
    config: ConsoleConfig,
    now: Callable[[], datetime] = clock.now,
    name: str = "staff_console",
    records: Optional[ConsoleRecords] = None,
    publisher: Optional[publishing.Publisher] = None,
) -> Sanic:
    """The console's Sanic app over ``accounts`` (and ``records``, in the same database: their
    tables are made when not given); ``now`` is the clinic's clock."""
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.static("/static/console.css", str(HERE / "static" / "console.css"), name="stylesheet")
    pages = templates()
    password_checks = asyncio.Semaphore(CONCURRENT_PASSWORD_CHECKS)
    watched_profile = ProfileFile(config.profile_path) if config.profile_path else None

    def clinic_name() -> str:
        """clinic.yml's name as the file says now (a change shows in the next page's title)."""
        try:
            return watched_profile.current().name if watched_profile else config.clinic_name
        except ClinicProfileError:
            return config.clinic_name

    def render(template: str, status: int = 200, **values: Any) -> HTTPResponse:
        return response.html(pages.get_template(template).render(clinic_name=clinic_name(), **values), status=status)

    def secure(request: Request) -> bool:
        return web.over_https(request, config.secure_cookies)

    def session_cookie(request: Request) -> str:
        return web.cookie_name(web.SESSION_COOKIE, secure(request))

    def login_cookie(request: Request) -> str:
        return web.cookie_name(web.LOGIN_COOKIE, secure(request))

    def refused(reason: str) -> HTTPResponse:
        return render("refused.html", status=403, reason=reason)

    # -- what every request goes through ------------------------------------

    @app.middleware("request")
    async def load_session(request: Request) -> Optional[HTTPResponse]:
        # Sanic refuses a body over REQUEST_MAX_SIZE while reading it, then runs this middleware
        # on its error as on a request, so the refusal would read as a missing CSRF token.
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return response.text("Request too large.", status=413)
        request.ctx.staff = None
        request.ctx.forget_session = False
        token = request.cookies.get(session_cookie(request))
        if token:
            request.ctx.staff = await asyncio.to_thread(accounts.session, token, now(), config.policy)
            request.ctx.forget_session = request.ctx.staff is None
        if request.path.startswith(STATIC_PREFIX) or request.path in SERVER_PATHS:
            return None
        if request.ctx.staff is None and request.path not in PUBLIC_PATHS:
            return redirect("/login")
        if request.method == "POST":
            return check_form(request)
        return None

    def check_form(request: Request) -> Optional[HTTPResponse]:
        if web.foreign_origin(request):
            return refused("This form was sent from a page of another site.")
        sent = request.form.get("csrf_token")
        if request.path == "/login":
            expected = request.cookies.get(login_cookie(request))
            if not web.same_token(sent, expected):
                return refused(
                    "The login form had expired or did not come from this console "
                    "(its security token was missing or wrong). Open the login page again."
                )
            return None
        staff: StaffSession = request.ctx.staff
        if not web.same_token(sent, staff.csrf_token):
            return refused(
                "This form did not come from your session of the console (its security token was "
                "missing or wrong). Go back, reload the page and try again."
            )
        return None

    @app.middleware("response")
    async def headers(request: Request, reply: HTTPResponse) -> None:
        for header, value in web.SECURITY_HEADERS.items():
            reply.headers.setdefault(header, value)
        if not request.path.startswith(STATIC_PREFIX):
            reply.headers["Cache-Control"] = "no-store"
        if getattr(request.ctx, "forget_session", False) and session_cookie(request) not in reply.cookies:
            web.clear_cookie(reply, session_cookie(request), secure(request))

    # -- pages --------------------------------------------------------------

    @app.get("/")
    async def home(request: Request) -> HTTPResponse:
        return redirect("/inbox")

    def login_page(request: Request, status: int = 200, error: Optional[str] = None, username: str = ""):
        token = request.cookies.get(login_cookie(request)) or ""
        if len(token) < 32:
            token = secrets.token_urlsafe(32)
        page = render("login.html", status=status, csrf_token=token, error=error, username=username)
        web.set_cookie(page, login_cookie(request), token, secure(request))
        return page

    @app.get("/login")
    async def login_form(request: Request) -> HTTPResponse:
        if request.ctx.staff is not None:
            return redirect("/inbox")
        return login_page(request)

    @app.post("/login")
    async def login(request: Request) -> HTTPResponse:
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        if not username or not password:
            return login_page(request, 400, "Enter your username and your password.", username)
        address = web.client_address(request)
        keys = failure_keys(username, address)
        moment = now()
        until = await asyncio.to_thread(accounts.blocked_until, keys, moment)
        if until is not None:
            await asyncio.to_thread(accounts.audit, moment, await actor(username), "login-refused", address)
            page = login_page(
                request,
                429,
                f"Too many failed logins for this user or from this address. Try again {wait_text(until, moment)}.",
                username,
            )
            page.headers["Retry-After"] = str(max(1, math.ceil((until - moment).total_seconds())))
            return page
        async with password_checks:
            user = await asyncio.to_thread(accounts.verify, username, password)
        moment = now()
        if user is None:
            until = await asyncio.to_thread(accounts.record_failure, keys, moment)
            await asyncio.to_thread(accounts.audit, moment, await actor(username), "login-failed", address)
            error = "Wrong username or password."
            if until is not None:
                error += f" Too many failed logins: try again {wait_text(until, moment)}."
            return login_page(request, 401, error, username)
        await asyncio.to_thread(accounts.clear_failures, keys[:1])
        started = await asyncio.to_thread(accounts.start_session, user, moment)
        await asyncio.to_thread(accounts.audit, moment, user.name, "login", address)
        await asyncio.to_thread(accounts.purge_sessions, moment, config.policy)
        page = redirect("/inbox")
        web.set_cookie(page, session_cookie(request), started.token, secure(request))
        web.clear_cookie(page, login_cookie(request), secure(request))
        return page

    async def actor(username: str) -> str:
        # A name that is no user's may be a password typed in the wrong field: not kept.
        user = await asyncio.to_thread(accounts.find_user, username)
        return user.name if user else "(unknown user)"

    @app.post("/logout")
    async def logout(request: Request) -> HTTPResponse:
        staff: StaffSession = request.ctx.staff
        token = request.cookies.get(session_cookie(request)) or ""
        await asyncio.to_thread(accounts.end_session, token)
        await asyncio.to_thread(accounts.audit, now(), staff.user.name, "logout", web.client_address(request))
        page = redirect("/login")
        web.clear_cookie(page, session_cookie(request), secure(request))
        return page

    # An engine connects only when first used; the inbox reads the store at each visit.
    store = sa.create_engine(config.tracker_db_url) if config.tracker_db_url else None
    pages_context = Pages(
        config=config,
        accounts=accounts,
        records=records or ConsoleRecords(accounts.engine).create_tables(),
        files=TopicFiles(config.data_dir),
        conversations=store,
        now=now,
        render=render,
        bookings=BookingStore.on_engine(accounts.engine),
        clinic_file=ClinicFile(config.profile_path) if config.profile_path else None,
        watched_profile=watched_profile,
    )
    inbox.add_routes(app, pages_context)
    topics.add_routes(app, pages_context)
    app.ctx.publisher = publisher or publishing.Publisher()
    publishing.add_routes(app, pages_context, app.ctx.publisher)
    insights.add_routes(app, pages_context)
    requests.add_routes(app, pages_context)
    users.add_routes(app, pages_context)
    conversations.add_routes(app, pages_context)
    clinic.add_routes(app, pages_context)
    app.ctx.pages = pages_context
    app.ctx.conversations = store  # closed by whoever runs the app (console/server.py)
    return app
