"""The load soak (tools/soak.py): its plain functions, and CI's short form against the real servers.

The full soak (50 conversations for 5 minutes) is `make soak`; here 20 conversations for 60 s, with
15-second memory windows, under about 90 s including the servers' start.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from clinic import settings
from clinic.booking_validation import parse_contact, parse_name, parse_preferred_time
from clinic.profile import current_profile
from tests.conftest import MODEL_PATH, ROOT
from tools import soak
from tools.servers import proc_status_kb, server_env
from website.channel import MAX_BODY_BYTES
from website.origins import OriginPolicy
from website.requests import BadRequest, button_payload_or_text, parse_widget_request

SENDER = "3f2c8a9e-1b2c-4d5e-8f90-123456789abc"


# --- figures -------------------------------------------------------------------------------------


@pytest.mark.unit
def test_percentiles_interpolate_between_ranks():
    assert soak.percentile([], 50) is None
    assert soak.percentile([7.0], 95) == 7.0
    assert soak.percentile([5, 1, 4, 2, 3], 50) == 3
    assert soak.percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert soak.percentile(list(range(1, 101)), 0) == 1 and soak.percentile(list(range(1, 101)), 100) == 100


@pytest.mark.unit
def test_growth_is_relative_to_the_first_value():
    assert soak.growth_percent(100, 110) == pytest.approx(10.0)
    assert soak.growth_percent(600, 597) == pytest.approx(-0.5)
    with pytest.raises(ValueError):
        soak.growth_percent(0, 10)


@pytest.mark.unit
def test_the_windows_are_the_first_and_last_seconds_of_the_load():
    samples = [(float(at), 100.0 if at < 10 else 200.0 if at < 50 else 120.0) for at in range(61)]
    assert soak.window_means(samples, 10, 60) == (100.0, 120.0)
    with pytest.raises(ValueError, match="no sample"):
        soak.window_means(samples[:5], 10, 60)


@pytest.mark.unit
def test_memory_figures_per_process_and_together():
    samples = {
        "rasa": [(float(at), 1000.0 if at < 10 else 1050.0) for at in range(40)],
        "actions": [(float(at), 100.0 if at < 10 else 130.0) for at in range(40)],
    }
    memory = soak.memory_figures(samples, 10, 40)
    assert memory["rasa"]["growth_percent"] == pytest.approx(5.0)
    assert memory["actions"]["growth_percent"] == pytest.approx(30.0)
    assert memory["combined"]["growth_percent"] == pytest.approx(80 / 1100 * 100)
    assert memory["combined"]["first_mb"] == pytest.approx(1100 / 1024)


def booking(reference, name, phone=None, email=None):
    return {"reference": reference, "name": name, "phone": phone, "email": email}


@pytest.mark.unit
def test_reconciliation_passes_when_every_confirmed_booking_is_stored_once():
    confirmed = [
        booking("DN-AAAAA", "Orla Velanrow", "+12025550101"),
        booking("DN-BBBBB", "Lucan Dor", None, "l@mail.example"),
    ]
    assert soak.reconcile(confirmed, list(reversed(confirmed))) == {
        "lost": [],
        "duplicated": [],
        "unexpected": [],
        "mismatched": [],
    }


@pytest.mark.unit
def test_reconciliation_finds_lost_duplicated_unexpected_and_mismatched_bookings():
    confirmed = [
        booking("DN-AAAAA", "Orla Velanrow", "+12025550101"),
        booking("DN-BBBBB", "Lucan Dorovby", "+12025550102"),
        booking("DN-CCCCC", "Isolde Marlanrow", "+12025550103"),
    ]
    stored = [
        booking("DN-AAAAA", "Orla Velanrow", "+12025550101"),
        # DN-BBBBB lost; the same phone stored under a reference nobody was told
        booking("DN-DDDDD", "Orla Velanrow", "+12025550101"),
        booking("DN-CCCCC", "Isolde Marlanrow", "+12025550109"),  # stored with another visitor's phone
    ]
    found = soak.reconcile(confirmed, stored)
    assert found["lost"] == ["DN-BBBBB"]
    assert found["unexpected"] == ["DN-DDDDD"]
    assert found["mismatched"] == ["DN-CCCCC"]
    assert sorted(found["duplicated"]) == ["one name stored 2 times", "one phone stored 2 times"]


@pytest.mark.unit
def test_reconciliation_finds_a_reference_stored_twice():
    row = booking("DN-AAAAA", "Orla Velanrow", "+12025550101")
    found = soak.reconcile([row], [row, dict(row)])
    assert "reference DN-AAAAA stored 2 times" in found["duplicated"]
    assert found["lost"] == [] and found["unexpected"] == []


@pytest.mark.unit
def test_contact_details_are_found_in_logs_whatever_their_case():
    logs = 'INFO saved DN-AAAAA\nWARNING line \'/inform{"full_name": "Orla VELANROW"}\''
    assert soak.details_in_logs(logs, ["Orla Velanrow", "+12025550101", "Velanrow"]) == ["Orla Velanrow", "Velanrow"]
    assert soak.details_in_logs("", ["Orla Velanrow"]) == []


@pytest.mark.unit
def test_error_lines_are_counted_per_logger():
    logs = (
        "2026-11-21 07:06:27 ERROR    rasa.core.nlg.interpolator  - x\n"
        "2026-11-21 07:06:28 ERROR clinic.delivery: y\n"
        "2026-11-21 07:06:29 ERROR    rasa.core.nlg.interpolator  - z"
    )
    assert soak.error_sources(logs) == {"clinic.delivery": 1, "rasa.core.nlg.interpolator": 2}


@pytest.mark.unit
def test_memory_and_cpu_are_read_from_proc():
    assert proc_status_kb(os.getpid(), "VmRSS") > 10_000
    assert proc_status_kb(os.getpid(), "VmHWM") >= proc_status_kb(os.getpid(), "VmRSS")
    assert soak.read_cpu_seconds(os.getpid()) > 0
    gone = 2**22 + 1  # above the kernel's largest pid
    assert proc_status_kb(gone, "VmRSS") is None and soak.read_cpu_seconds(gone) is None


def clean_figures(**changes):
    figures = {
        "status_5xx": 0,
        "status_429": 0,
        "connection_errors": 0,
        "timeouts": 0,
        "unexpected_statuses": 0,
        "no_reply_answers": 0,
        "bookings_lost": 0,
        "bookings_duplicated": 0,
        "bookings_unexpected": 0,
        "bookings_mismatched": 0,
        "bookings_not_saved": 0,
        "load_overran": False,
        "bookings_undelivered": 0,
        "deliveries_repeated": 0,
        "deliveries_unknown": 0,
        "rejected_signatures": 0,
        "contact_details_in_logs": 0,
        "bookings_confirmed": 3,
        "faq_answers": 5,
        "memory": {
            name: {"first_mb": 1.0, "last_mb": 1.05, "growth_percent": 5.0} for name in ("rasa", "actions", "combined")
        },
    }
    figures.update(changes)
    return figures


@pytest.mark.unit
def test_the_verdict_names_each_failure():
    assert soak.failures(clean_figures()) == []
    assert soak.failures(clean_figures(status_5xx=2)) == ["2 5xx answers"]
    assert soak.failures(clean_figures(load_overran=True)) == ["load overran"]
    assert soak.failures(clean_figures(contact_details_in_logs=4)) == ["4 contact details in logs"]
    grown = clean_figures()
    grown["memory"]["actions"]["growth_percent"] = 10.0
    assert soak.failures(grown) == ["actions memory grew 10.0%"]
    # An empty run cannot pass.
    empty = clean_figures(bookings_confirmed=0, faq_answers=0)
    assert soak.failures(empty) == ["no booking completed", "no FAQ answered"]
    assert soak.failures(clean_figures(memory={})) == ["no memory figures"]


# --- what the visitors say -----------------------------------------------------------------------


@pytest.mark.unit
def test_every_made_up_person_is_unique_and_read_back_as_typed():
    people = [soak.person(index, contact_style=index % 7) for index in range(soak.MAX_PEOPLE)]
    for field in ("name", "surname"):
        assert len({getattr(who, field) for who in people}) == soak.MAX_PEOPLE
    phones = [who.phone_e164 for who in people if who.phone_e164]
    emails = [who.email for who in people if who.email]
    assert len(set(phones)) == len(phones) and len(set(emails)) == len(emails)
    assert "+12025550100" not in phones  # the clinic's own number
    for who in people:
        assert parse_contact(who.contact_typed, "US").value == {"phone": who.phone_e164, "email": who.email}, who
        assert parse_name(f"my name is {who.name}").value == who.name
        assert parse_name(who.name.lower()).value == who.name
        assert all(re.fullmatch(r"\+1\d{3}5550(1\d\d)", phone) for phone in [who.phone_e164] if phone)
    with pytest.raises(ValueError):
        soak.person(soak.MAX_PEOPLE)


@pytest.mark.unit
@pytest.mark.parametrize("now", ["2026-11-21T10:00:00", "2026-11-24T11:00:00", "2026-11-27T17:45:00"])
def test_the_booking_times_are_accepted_whatever_the_day(now):
    profile = current_profile()
    moment = datetime.fromisoformat(now).replace(tzinfo=ZoneInfo(profile.timezone))
    for text in soak.TIMES:
        parsed = parse_preferred_time(text, profile, moment)
        assert parsed.ok and "when" in parsed.value, (text, parsed)


@pytest.mark.unit
def test_no_conversation_reaches_the_per_sender_limit():
    per_sender, _ = settings.website_rate_limits({})
    rng = random.Random(7)
    plans = [soak.faq_plan(rng) for _ in range(200)]
    plans += [soak.booking_plan(rng, soak.person(i)) for i in range(100)]
    plans += [soak.forged_plan(rng, soak.person(i)) for i in range(100)]
    assert max(soak.max_messages(plan) for plan in plans) < per_sender.count
    assert all(
        step.message in soak.FAQ_QUESTIONS + soak.OPENERS + soak.CLOSERS
        for plan in plans
        if plan.kind == "faq"
        for step in plan.steps
    )


@pytest.mark.unit
def test_a_booking_plan_is_the_whole_form_ending_in_a_reference():
    who = soak.person(3, contact_style=5)
    plan = soak.booking_plan(random.Random(1), who)
    assert [step.expect for step in plan.steps] == [
        "What name",
        "phone number or email",
        "Which day and time",
        "Do you agree",
        "Shall I send it",
        "REFERENCE",
    ]
    assert plan.steps[2].message == who.email and plan.person == who


@pytest.mark.unit
def test_the_bad_requests_are_refused_by_the_channels_own_checks():
    policy = OriginPolicy.of(current_profile().website.allowed_origins)
    for kind in soak.BAD_KINDS:
        body, headers, expected = soak.bad_request(kind, SENDER)
        if kind == "form_post":
            assert expected == (415,) and not headers["Content-Type"].startswith(("application/json", "text/plain"))
        elif kind == "foreign_origin":
            assert expected == (403,) and not policy.permits(headers["Origin"], None)
        elif kind == "slash_only":
            message = parse_widget_request(body)
            assert expected == (400,) and button_payload_or_text(message.text, {"greet"}, set()) == ""
        elif kind == "huge":
            assert expected == (400,) and len(body) > MAX_BODY_BYTES
        else:
            assert expected == (400,)
            with pytest.raises(BadRequest):
                parse_widget_request(body)


@pytest.mark.unit
def test_masking_keeps_details_out_of_the_results_file():
    who = soak.person(11, contact_style=6)
    text = f"Name: {who.name}\nContact: {who.phone_typed} or {who.email} ({who.name.lower()})"
    assert soak.masked(text, who) == "Name: <name>\nContact: <phone> or <email> (<name>)"


# --- CI's short form -----------------------------------------------------------------------------


@pytest.mark.system
def test_the_short_soak_passes(tmp_path):
    """20 conversations for 60 s against the real servers; each figure asserted on its own."""
    if not MODEL_PATH.exists():
        pytest.fail("no trained model: run `make train` (make test does)")
    out = tmp_path / "soak.json"
    env = server_env()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.soak",
            "--conversations",
            "20",
            "--seconds",
            "60",
            "--window-seconds",
            "15",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    printed = run.stdout[-4000:] + run.stderr[-2000:]
    assert out.exists(), printed
    figures = json.loads(out.read_text())["figures"]
    assert figures["status_5xx"] == 0, printed
    assert figures["status_429"] == 0, printed
    assert figures["connection_errors"] == 0 and figures["timeouts"] == 0, printed
    assert figures["unexpected_statuses"] == 0, figures["unexpected_status_examples"]
    assert figures["no_reply_answers"] == 0, printed
    assert figures["bad_requests_sent"] > 0, printed
    assert figures["faq_answers"] > 0 and figures["bookings_confirmed"] > 0, printed
    assert figures["bookings_stored"] == figures["bookings_confirmed"], printed
    # The clinic endpoint was down, then slow, mid-load: some deliveries failed first, and every
    # booking still arrived exactly once (checked below with the other delivery figures).
    assert figures["deliveries_retried"] > 0, printed
    for key in (
        "bookings_lost",
        "bookings_duplicated",
        "bookings_unexpected",
        "bookings_mismatched",
        "bookings_not_saved",
    ):
        assert figures[key] == 0, (key, figures["booking_problems"])
    for key in ("bookings_undelivered", "deliveries_repeated", "deliveries_unknown", "rejected_signatures"):
        assert figures[key] == 0, (key, printed)
    for name, memory in figures["memory"].items():
        assert memory["growth_percent"] < soak.MAX_MEMORY_GROWTH_PERCENT, (name, memory)
    assert figures["contact_details_in_logs"] == 0, figures["contact_details_found"]
    assert not figures["load_overran"], printed
    assert run.returncode == 0 and "soak: PASS" in run.stdout, printed
