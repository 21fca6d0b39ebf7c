"""The clinic's details: the Clinic page edits clinic.yml, which stays the source of truth.

- ``GET /clinic``: the details as the file says now (an edit by hand shows at once), in one form;
  read-only for staff who are not admins.
- ``POST /clinic``: admins only (``Pages.admin_only``). Saved through ``clinic/clinic_file.py``:
  the profile's own checks, each problem naming its field, only the changed lines rewritten.
  Refused with nothing lost: 422 with the problems, 409 when the file changed since the form was
  opened (the details saved now shown above the form). A save goes to the audit log (which
  fields) and the history (the file before and after, beside the topics' changes, as ``clinic.yml``).

The servers pick the new file up by themselves (``clinic.profile.ProfileFile``): the action
server's next answer and the widget's next greeting use it, with no restart.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, List, Optional, Tuple

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic.clinic_file import (
    BLANK_PRICE_ROWS,
    HOURS,
    MAX_BUTTONS,
    SHOWN_NAME,
    TEXT_FIELDS,
    ClinicEditError,
    Problem,
    Snapshot,
    StaleClinicFile,
    Typed,
)

if TYPE_CHECKING:
    from console.app import Pages


def posted(request: Request) -> Typed:
    """What the Clinic form sent: every field, and the price and button rows in page order.

    Raises:
        ValueError: a row came without its other half (not a form of this page).
    """
    form = request.form
    return Typed(
        fields={item.path: form.get(item.path) or "" for item in TEXT_FIELDS + HOURS},
        prices=list(zip(form.getlist("price_item") or [], form.getlist("price") or [], strict=True)),
        buttons=list(zip(form.getlist("button_title") or [], form.getlist("button_payload") or [], strict=True)),
    )


def differences(typed: Typed, saved: Typed) -> List[Tuple[str, str]]:
    """The fields whose saved value is not what was typed: ``(label, saved value)``."""
    found = [
        (item.label, saved.fields.get(item.path, ""))
        for item in TEXT_FIELDS + HOURS
        if " ".join(typed.fields.get(item.path, "").split()) != saved.fields.get(item.path, "")
    ]
    if [row for row in typed.prices if any(row)] != saved.prices:
        found.append(("Prices", "; ".join(f"{item}: {price}" for item, price in saved.prices)))
    if [row for row in typed.buttons if any(row)] != saved.buttons:
        found.append(("Widget buttons", "; ".join(title for title, _ in saved.buttons)))
    return found


def add_routes(app: Sanic, pages: "Pages") -> None:
    """The Clinic page and its form."""

    async def clinic_page(
        request: Request,
        status: int = 200,
        typed: Optional[Typed] = None,
        problems: Optional[List[Problem]] = None,
        notice: Optional[str] = None,
        stale: bool = False,
    ) -> HTTPResponse:
        if pages.clinic_file is None:
            return pages.page(
                request, "clinic.html", status=status, section="clinic", snapshot=None, notice=None, problems=[]
            )
        snapshot: Snapshot = await asyncio.to_thread(pages.clinic_file.snapshot)
        shown = typed or snapshot.typed
        prices = shown.prices + [("", "")] * BLANK_PRICE_ROWS
        buttons = (shown.buttons + [("", "")] * MAX_BUTTONS)[: max(MAX_BUTTONS, len(shown.buttons))]
        return pages.page(
            request,
            "clinic.html",
            status=status,
            section="clinic",
            snapshot=snapshot,
            values=shown.fields,
            prices=prices,
            buttons=buttons,
            text_fields=TEXT_FIELDS,
            hours=HOURS,
            problems=problems or [],
            invalid={path for path, _ in problems or []},
            notice=notice,
            saved_now=differences(shown, snapshot.typed) if stale else [],
            editable=pages.is_admin(request),
        )

    @app.get("/clinic")
    async def show_clinic(request: Request) -> HTTPResponse:
        saved = request.args.get("saved")
        notice = None
        if saved == "yes":
            notice = "Saved. The assistant gives the new details from its next answer: no restart needed."
        elif saved == "same":
            notice = "Nothing changed: the form held the details already saved."
        return await clinic_page(request, notice=notice)

    @app.post("/clinic")
    async def save_clinic(request: Request) -> HTTPResponse:
        refused = pages.admin_only(request, "change the clinic's details")
        if refused is not None:
            await pages.audit(request, "edit-clinic-refused", "not an admin")
            return refused
        if pages.clinic_file is None:
            return await clinic_page(request, 409)
        try:
            typed = posted(request)
        except ValueError:
            problem = ("", "The form's price or button rows came incomplete. Reload the page and try again.")
            return await clinic_page(request, 400, problems=[problem])
        version = request.form.get("version") or ""
        try:
            saved = await asyncio.to_thread(pages.clinic_file.save, version, typed)
        except StaleClinicFile as error:
            await pages.audit(request, "edit-clinic-refused", "stale: the file changed since the form was opened")
            return await clinic_page(request, 409, typed, error.problems, stale=True)
        except ClinicEditError as error:
            await pages.audit(
                request, "edit-clinic-refused", "; ".join(path or SHOWN_NAME for path, _ in error.problems)
            )
            return await clinic_page(request, 422, typed, error.problems)
        except OSError as error:
            problem = ("", f"{SHOWN_NAME} could not be written ({error.strerror}); nothing was saved")
            return await clinic_page(request, 500, typed, [problem])
        if not saved.changed:
            return response.redirect("/clinic?saved=same", status=303)
        await pages.record(request, saved)
        await pages.audit(request, saved.action, saved.summary)
        return response.redirect("/clinic?saved=yes", status=303)
