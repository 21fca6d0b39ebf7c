"""The console's users, for admins: who has an account, as what role; add, remove, change a role.

- ``GET /users``: every user with their role and when they were added; a form to add one.
- ``POST /users/add``: name, password (twice) and role.
- ``POST /users/role``: makes a user staff or admin.
- ``POST /users/remove``: removes a user (ticked "Yes, remove") and ends their sessions at once.

Admins only (``Pages.admin_only``): staff get a 403 and no link here. The rules are the staff
command line's (``clinic/staff_accounts.py``): the same names and passwords, and the last admin is
neither removed nor made staff. An admin cannot remove their own account or change their own
role here either: another admin does, so nobody locks themself out by a slip of the mouse.
Every change, and every refused one, goes to the audit log.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Dict, Optional
from urllib.parse import urlencode

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic.staff_accounts import NAME_PATTERN, ROLES, STAFF, AccountError, name_key

if TYPE_CHECKING:
    from console.app import Pages

NOTICES = {
    "added": "was added: they can log in now",
    "removed": "was removed and their sessions ended",
    "role": "has the role shown now",
}


def see_other(done: str, name: str) -> HTTPResponse:
    return response.redirect("/users?" + urlencode({"done": done, "user": name}), status=303)


def add_routes(app: Sanic, pages: "Pages") -> None:
    """The users page and its forms."""

    async def users_page(
        request: Request, status: int = 200, error: Optional[str] = None, typed: Optional[Dict[str, str]] = None
    ) -> HTTPResponse:
        listed = await asyncio.to_thread(pages.accounts.list_users)
        done, who = request.args.get("done") or "", request.args.get("user") or ""
        # Only ever a user's name (and one removed can be no one's now) and known words.
        gone = done == "removed" and NAME_PATTERN.fullmatch(who) and who not in {user.name for user in listed}
        there = done in ("added", "role") and who in {user.name for user in listed}
        notice = f"{who} {NOTICES[done]}." if request.method == "GET" and (gone or there) else None
        return pages.page(
            request,
            "users.html",
            status=status,
            section="users",
            users=listed,
            me=pages.actor(request),
            roles=ROLES,
            error=error,
            notice=notice,
            typed=typed or {"name": "", "role": STAFF},
        )

    async def refuse(request: Request, action: str, reason: str, status: int, typed=None) -> HTTPResponse:
        await pages.audit(request, f"{action}-refused", reason)
        return await users_page(request, status, reason, typed)

    def mine(request: Request, name: str) -> bool:
        return name_key(name) == name_key(pages.actor(request))

    @app.get("/users")
    async def show_users(request: Request) -> HTTPResponse:
        return pages.admin_only(request) or await users_page(request)

    @app.post("/users/add")
    async def add_user(request: Request) -> HTTPResponse:
        if refusal := pages.admin_only(request):
            return refusal
        name = (request.form.get("name") or "").strip()
        password = request.form.get("password") or ""
        role = request.form.get("role") or ""
        typed = {"name": name, "role": role if role in ROLES else STAFF}
        if password != (request.form.get("password_again") or ""):
            return await refuse(request, "add-user", "The two passwords differ; nobody was added.", 422, typed)
        try:
            user = await asyncio.to_thread(pages.accounts.add_user, name, password, pages.now(), role)
        except AccountError as error:
            return await refuse(request, "add-user", f"Not added: {error}.", 422, typed)
        await pages.audit(request, "add-user", f"added {user.name} ({user.role})")
        return see_other("added", user.name)

    @app.post("/users/role")
    async def set_role(request: Request) -> HTTPResponse:
        if refusal := pages.admin_only(request):
            return refusal
        name, role = request.form.get("name") or "", request.form.get("role") or ""
        if mine(request, name):
            return await refuse(request, "set-role", "You cannot change your own role: another admin can.", 409)
        try:
            user = await asyncio.to_thread(pages.accounts.set_role, name, role)
        except AccountError as error:
            return await refuse(request, "set-role", f"Not changed: {error}.", 409)
        await pages.audit(request, "set-role", f"{user.name} is now {user.role}")
        return see_other("role", user.name)

    @app.post("/users/remove")
    async def remove_user(request: Request) -> HTTPResponse:
        if refusal := pages.admin_only(request):
            return refusal
        name = request.form.get("name") or ""
        if mine(request, name):
            return await refuse(request, "remove-user", "You cannot remove your own account: another admin can.", 409)
        if request.form.get("confirm") != "yes":
            return await refuse(request, "remove-user", f"Tick “Yes, remove {name}” to remove them.", 400)
        try:
            user = await asyncio.to_thread(pages.accounts.remove_user, name)
        except AccountError as error:
            return await refuse(request, "remove-user", f"Not removed: {error}.", 409)
        await pages.audit(request, "remove-user", f"removed {user.name}")
        return see_other("removed", user.name)
