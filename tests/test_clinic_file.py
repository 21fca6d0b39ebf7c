"""clinic.yml changed from the console's Clinic page (clinic/clinic_file.py) and picked up by the
running servers without a restart (clinic.profile.ProfileFile, current_profile, the website
channel's settings): on copies of the project's clinic.yml, kept by hand with comments."""

from __future__ import annotations

import logging
import os
import shutil
import stat

import pytest
import yaml

from clinic.clinic_file import ClinicEditError, ClinicFile, StaleClinicFile, typed_of
from clinic.profile import ProfileFile, current_profile, forget_loaded_profiles
from tests.conftest import ROOT

pytestmark = pytest.mark.unit


@pytest.fixture
def path(tmp_path):
    copy = tmp_path / "clinic.yml"
    shutil.copyfile(ROOT / "clinic.yml", copy)
    os.chmod(copy, 0o644)
    return copy


def changed_lines(before: str, after: str):
    old, new = before.splitlines(), after.splitlines()
    return [(a, b) for a, b in zip(old, new, strict=False) if a != b], len(new) - len(old)


def test_a_save_rewrites_only_the_changed_values_lines(path):
    clinic = ClinicFile(path)
    snapshot = clinic.snapshot()
    assert snapshot.problems == []
    typed = snapshot.typed
    typed.fields["phone"] = "+1 202 555 0199"
    typed.fields["opening_hours.monday"] = "09:00-17:30"
    typed.fields["referral"] = "  No referral   needed.\r\nJust book. "  # a text area's lines and spaces
    saved = clinic.save(snapshot.version, typed)

    assert saved.changed == ["phone", "referral", "opening_hours.monday"]
    text = path.read_text()
    assert text == saved.after
    pairs, grown = changed_lines(saved.before, saved.after)
    assert ('phone: "+1 202 555 0100"', 'phone: "+1 202 555 0199"') in pairs  # its quotes kept
    assert ('  monday: "08:00-18:00"', '  monday: "09:00-17:30"') in pairs
    # The three-line folded referral became one short line: everything after it moved up two.
    assert grown == -2 and "referral: No referral needed. Just book." in text.splitlines()
    for comment in [line for line in saved.before.splitlines() if line.startswith("#")]:
        assert comment in text.splitlines()
    document = yaml.safe_load(text)
    assert document["opening_hours"]["monday"] == "09:00-17:30"
    assert document["referral"] == "No referral needed. Just book."
    before = yaml.safe_load(saved.before)
    assert {key: value for key, value in document.items() if key not in ("phone", "referral", "opening_hours")} == {
        key: value for key, value in before.items() if key not in ("phone", "referral", "opening_hours")
    }
    assert "-phone" in saved.diff and "+phone" in saved.diff and saved.diff.startswith("--- clinic.yml")


def test_long_text_is_folded_and_list_rows_not_changed_keep_their_lines(path):
    clinic = ClinicFile(path)
    snapshot = clinic.snapshot()
    typed = snapshot.typed
    long = "We give you an itemised receipt for your insurer. " * 4
    typed.fields["insurance"] = long
    typed.prices.append(("Gift voucher", "$50"))
    typed.buttons[0] = ("Does it hurt much?", typed.buttons[0][1])
    saved = clinic.save(snapshot.version, typed)

    lines = saved.after.splitlines()
    at = lines.index("insurance: >-")
    assert all(len(line) <= 100 for line in lines[at : at + 4])
    document = yaml.safe_load(saved.after)
    assert document["insurance"] == long.strip()
    assert document["prices"][-1] == {"item": "Gift voucher", "price": "$50"}
    assert '    price: "$390"' in lines  # an unchanged row as it was written
    assert "    - title: Does it hurt much?" in lines
    assert """      payload: '/choose_faq_topic{"faq_topic": "does_it_hurt"}'""" in lines  # its single quotes kept


def test_a_field_missing_from_the_file_is_added_before_the_website_section(path):
    text = path.read_text()
    start = text.index("children: >-")
    end = text.index("# The chat widget")
    path.write_text(text[:start] + text[end:])
    clinic = ClinicFile(path)
    snapshot = clinic.snapshot()
    assert snapshot.typed.fields["children"] == ""
    snapshot.typed.fields["children"] = "We treat adults only."
    saved = clinic.save(snapshot.version, snapshot.typed)
    lines = saved.after.splitlines()
    assert lines.index("children: We treat adults only.") < lines.index(
        "# The chat widget on the clinic's website (docs/website.md)."
    )
    assert yaml.safe_load(saved.after)["children"] == "We treat adults only."


def test_bad_values_are_refused_each_naming_its_field_and_nothing_is_written(path):
    before = path.read_text()
    clinic = ClinicFile(path)
    snapshot = clinic.snapshot()
    typed = snapshot.typed
    typed.fields["phone"] = "call us"
    typed.fields["email"] = "hello at clinic"
    typed.fields["opening_hours.friday"] = "8 till 5"
    typed.prices[1] = ("Follow-up session", "")
    typed.buttons.append(("", "/book_appointment"))
    with pytest.raises(ClinicEditError) as refused:
        clinic.save(snapshot.version, typed)
    assert refused.value.problems == [
        ("phone", "Phone: must contain a phone number's digits"),
        ("email", "Email: is not an email address (for example hello@myclinic.com)"),
        ("opening_hours.friday", "Opening hours, Friday: expected HH:MM-HH:MM (or 'closed'), got '8 till 5'"),
        ("prices", "Prices, line 2, price: ensure this value has at least 1 characters"),
        ("website.quick_replies", "Widget buttons, button 5, title: ensure this value has at least 1 characters"),
    ]
    assert path.read_text() == before


def test_the_rules_are_the_profiles_own_the_servers_apply(path):
    clinic = ClinicFile(path)
    snapshot = clinic.snapshot()
    snapshot.typed.fields["opening_hours.monday"] = "18:00-08:00"
    with pytest.raises(ClinicEditError, match="Opening hours, Monday: '18:00-08:00' ends before it starts"):
        clinic.save(snapshot.version, snapshot.typed)
    snapshot.typed.fields["opening_hours.monday"] = "08:00-18:00"
    snapshot.typed.buttons = [(f"Button {n}", "/book_appointment") for n in range(7)]
    with pytest.raises(ClinicEditError, match="Widget buttons: at most 6 quick replies"):
        clinic.save(snapshot.version, snapshot.typed)
    snapshot.typed.buttons = []
    snapshot.typed.fields["address"] = "a\x1b[2Jb"
    with pytest.raises(ClinicEditError, match="Address: holds a control or invisible character"):
        clinic.save(snapshot.version, snapshot.typed)


def test_a_stale_form_is_refused_after_a_console_save_or_a_hand_edit(path):
    clinic = ClinicFile(path)
    opened = clinic.snapshot()
    first = clinic.snapshot()
    first.typed.fields["phone"] = "+1 202 555 0111"
    clinic.save(first.version, first.typed)
    opened.typed.fields["phone"] = "+1 202 555 0122"
    with pytest.raises(StaleClinicFile):
        clinic.save(opened.version, opened.typed)
    assert yaml.safe_load(path.read_text())["phone"] == "+1 202 555 0111"

    fresh = clinic.snapshot()
    path.write_text(path.read_text().replace("Springfield", "Shelbyville"))  # by hand
    fresh.typed.fields["phone"] = "+1 202 555 0133"
    with pytest.raises(StaleClinicFile):
        clinic.save(fresh.version, fresh.typed)
    assert clinic.snapshot().typed.fields["address"].startswith("100 Example Avenue, Suite 2, Shelbyville")


def test_the_file_keeps_its_permissions_and_no_temporary_file_is_left(path):
    old_umask = os.umask(0o077)
    try:
        clinic = ClinicFile(path)
        snapshot = clinic.snapshot()
        snapshot.typed.fields["phone"] = "+1 202 555 0144"
        clinic.save(snapshot.version, snapshot.typed)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["clinic.yml"]


def test_a_form_sending_the_same_details_changes_nothing(path):
    clinic = ClinicFile(path)
    snapshot = clinic.snapshot()
    before = path.read_text()
    saved = clinic.save(snapshot.version, typed_of(yaml.safe_load(before)))
    assert saved.changed == [] and path.read_text() == before


def test_a_broken_file_shows_its_problem(path):
    path.write_text(path.read_text().replace('phone: "+1 202 555 0100"', 'phone: "none"'))
    assert ClinicFile(path).snapshot().problems == [("phone", "Phone: must contain a phone number's digits")]
    path.write_text("name: [unclosed\n")
    problems = ClinicFile(path).snapshot().problems
    assert len(problems) == 1 and problems[0][1].startswith("clinic.yml is not valid YAML")


# -- picked up by the running servers ------------------------------------------------


def test_the_profile_is_loaded_again_when_the_file_changes(path):
    watched = ProfileFile(path)
    first = watched.current()
    assert watched.current() is first  # unchanged: not read again
    clinic = ClinicFile(path)
    snapshot = clinic.snapshot()
    snapshot.typed.fields["opening_hours.monday"] = "10:00-14:00"
    clinic.save(snapshot.version, snapshot.typed)
    assert watched.current().opening_hours["monday"] == "10:00-14:00"


def test_a_bad_change_keeps_the_last_good_profile_and_logs_the_field(path, caplog):
    watched = ProfileFile(path)
    good = watched.current()
    path.write_text(path.read_text().replace("email: hello@clinic.example", 'email: "not an address"'))
    with caplog.at_level(logging.INFO, logger="clinic.profile"):
        assert watched.current() is good
        assert watched.current() is good
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "email:" in errors[0] and "not taken" in errors[0]
    with pytest.raises(Exception, match="email"):
        ProfileFile(path).current()  # nothing loaded before: strict, as the action server's start


def test_current_profile_follows_the_file_the_environment_names(path, monkeypatch):
    monkeypatch.setenv("CLINIC_PROFILE", str(path))
    forget_loaded_profiles()
    try:
        assert current_profile().website.greeting.startswith("Hi! I'm the clinic's assistant")
        text = path.read_text().replace("Hi! I'm the clinic's assistant.", "Hello from the front desk.")
        path.write_text(text)
        assert current_profile().website.greeting.startswith("Hello from the front desk.")
    finally:
        forget_loaded_profiles()


def test_the_website_channel_gives_the_greeting_of_the_changed_file(path, monkeypatch):
    from website.channel import WebsiteInput, load_config

    monkeypatch.setenv("CLINIC_PROFILE", str(path))
    forget_loaded_profiles()
    try:
        channel = WebsiteInput(load_config())
        assert channel.current_config().public()["quick_replies"][0]["title"] == "Does it hurt?"
        clinic = ClinicFile(path)
        snapshot = clinic.snapshot()
        snapshot.typed.fields["website.greeting"] = "Welcome! Ask away."
        snapshot.typed.buttons[0] = ("Will it hurt?", snapshot.typed.buttons[0][1])
        clinic.save(snapshot.version, snapshot.typed)
        public = channel.current_config().public()
        assert public["greeting"] == "Welcome! Ask away."
        assert public["quick_replies"][0] == {
            "title": "Will it hurt?",
            "payload": '/choose_faq_topic{"faq_topic": "does_it_hurt"}',
        }
    finally:
        forget_loaded_profiles()
