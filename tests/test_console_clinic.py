"""The Clinic page (console/clinic.py) in this process, through the app's ASGI interface, on a copy
of clinic.yml: the file's details in the form (a hand edit shows at once), a save rewriting the
copy with the audit line and the history, a bad value refused naming the field with what was typed
kept, a stale form refused with nothing lost, staff who are not admins refused, the clinic's name
in the titles as the file says now."""

from __future__ import annotations

import html
import re
import shutil

import pytest
import yaml

from tests.conftest import ROOT
from tests.console_asgi import PASSWORD, T0, running_console, signed_in

pytestmark = pytest.mark.unit


@pytest.fixture
def console(tmp_path):
    shutil.copyfile(ROOT / "clinic.yml", tmp_path / "clinic.yml")
    with running_console(tmp_path, profile_path=tmp_path / "clinic.yml") as made:
        made.accounts.set_role("anna", "admin")  # only an admin may save the clinic's details
        made.profile = tmp_path / "clinic.yml"
        yield made


def form_of(page: str):
    """The Clinic form's fields as the page fills them, in page order (a browser's submission)."""
    form = re.search(r'<form class="clinic-form".*?</form>', page, re.S).group(0)
    fields = []
    for tag in re.findall(r"<input [^>]*>|<textarea [^>]*>.*?</textarea>", form, re.S):
        name = re.search(r'name="([^"]+)"', tag).group(1)
        if tag.startswith("<textarea"):
            value = re.search(r">(.*)</textarea>", tag, re.S).group(1)
        else:
            value = re.search(r'value="([^"]*)"', tag).group(1)
        fields.append((name, html.unescape(value)))
    return fields


def with_values(fields, **changes):
    return [(name, changes.get(name.replace(".", "__"), value)) for name, value in fields]


def title(page: str) -> str:
    return html.unescape(re.search(r"<title>(.*?)</title>", page).group(1))


def test_the_page_shows_the_files_details_and_a_hand_edit_at_once(console):
    browser = signed_in(console)
    page = browser.get("/clinic").body
    fields = dict(form_of(page))
    assert fields["phone"] == "+1 202 555 0100"
    assert fields["opening_hours.wednesday"] == "08:00-12:00, 13:00-19:00"
    assert fields["website.greeting"].startswith("Hi! I'm the clinic's assistant.")
    assert ("price_item", "Pack of five follow-up sessions") in form_of(page)
    assert title(page) == "Clinic details · Staff console · Example Dry Needling Clinic (fictional)"
    console.profile.write_text(
        console.profile.read_text()
        .replace('  monday: "08:00-18:00"', '  monday: "07:30-18:00"')
        .replace("name: Example Dry Needling Clinic (fictional)", "name: Riverside <Physio>")
    )
    page = browser.get("/clinic").body
    assert dict(form_of(page))["opening_hours.monday"] == "07:30-18:00"
    assert title(page) == "Clinic details · Staff console · Riverside <Physio>"
    assert "Riverside &lt;Physio&gt;" in page
    assert title(browser.get("/inbox").body) == "Inbox · Staff console · Riverside <Physio>"


def test_a_save_changes_the_file_and_is_audited_and_kept_in_the_history(console):
    browser = signed_in(console)
    page = browser.get("/clinic").body
    fields = with_values(form_of(page), opening_hours__monday="09:00-17:00", phone="+1 202 555 0177")
    reply = browser.post("/clinic", fields)
    assert reply.status == 303 and reply.header("location") == "/clinic?saved=yes"
    document = yaml.safe_load(console.profile.read_text())
    assert document["opening_hours"]["monday"] == "09:00-17:00" and document["phone"] == "+1 202 555 0177"
    assert "Saved. The assistant gives the new details from its next answer" in browser.get("/clinic?saved=yes").body
    entry = console.accounts.audit_log()[0]
    assert (entry.actor, entry.action, entry.detail) == ("anna", "edit-clinic", "changed phone, opening_hours.monday")
    change = console.records.changes(topic="clinic.yml")[0]
    assert change.action == "edit-clinic" and change.after == console.profile.read_text()
    assert '-  monday: "08:00-18:00"' in change.diff and '+  monday: "09:00-17:00"' in change.diff

    page = browser.get("/clinic").body
    assert browser.post("/clinic", form_of(page)).header("location") == "/clinic?saved=same"


def test_a_bad_phone_is_refused_naming_the_field_with_what_was_typed_kept(console):
    browser = signed_in(console)
    before = console.profile.read_text()
    page = browser.get("/clinic").body
    reply = browser.post("/clinic", with_values(form_of(page), phone="ring us", opening_hours__friday="9 to 5"))
    assert reply.status == 422
    assert "Phone: must contain a phone number&#39;s digits" in reply.body
    assert '<a href="#f-phone">' in reply.body and '<a href="#f-opening_hours-friday">' in reply.body
    assert re.search(r'id="f-phone" name="phone" type="text" value="ring us" aria-invalid="true"', reply.body)
    assert dict(form_of(reply.body))["opening_hours.friday"] == "9 to 5"
    assert console.profile.read_text() == before
    entry = console.accounts.audit_log()[0]
    assert (entry.action, entry.detail) == ("edit-clinic-refused", "phone; opening_hours.friday")


def test_a_stale_form_is_refused_with_what_was_typed_kept(console):
    browser = signed_in(console)
    page = browser.get("/clinic").body
    console.profile.write_text(console.profile.read_text().replace("hello@clinic.example", "desk@clinic.example"))
    reply = browser.post("/clinic", with_values(form_of(page), address="1 New Street, Springfield"))
    assert reply.status == 409
    assert "Someone changed clinic.yml since you opened this page" in reply.body
    fields = dict(form_of(reply.body))
    assert fields["address"] == "1 New Street, Springfield"  # what was typed
    assert re.search(r"<dt>Email</dt><dd>desk@clinic.example</dd>", reply.body)  # the saved one, shown
    assert "1 New Street" not in console.profile.read_text()
    # Saved again from the refused page (it carries the new version): it goes through.
    assert browser.post("/clinic", form_of(reply.body)).status == 303
    assert yaml.safe_load(console.profile.read_text())["address"] == "1 New Street, Springfield"


def test_a_staff_member_who_is_not_an_admin_may_read_but_not_save(console):
    console.accounts.add_user("bea", PASSWORD, T0)
    browser = signed_in(console, "bea")
    page = browser.get("/clinic").body
    assert "Only an admin can change these details." in page
    assert "Save the clinic" not in page and page.count(" disabled") == 5
    before = console.profile.read_text()
    reply = browser.post("/clinic", with_values(form_of(page), phone="+1 202 555 0188"))
    assert reply.status == 403 and "Only an admin can change the clinic&#39;s details." in reply.body
    assert console.profile.read_text() == before
    assert console.accounts.audit_log()[0].action == "edit-clinic-refused"


def test_every_form_needs_its_token_and_whole_rows(console):
    browser = signed_in(console)
    fields = form_of(browser.get("/clinic").body)
    without = [(name, value) for name, value in fields if name != "csrf_token"]
    assert browser.post("/clinic", without).status == 403
    broken = [(name, value) for name, value in fields if name != "price"]
    reply = browser.post("/clinic", broken)
    assert reply.status == 400 and "price or button rows came incomplete" in reply.body


def test_a_console_without_a_clinic_file(tmp_path):
    with running_console(tmp_path) as console:
        browser = signed_in(console)
        assert "started without a clinic.yml" in browser.get("/clinic").body
        assert title(browser.get("/clinic").body) == "Clinic details · Staff console · Example <Clinic>"
