"""Judging the assistant by its replies on the real-voice sets (tools/real_voice.py), and the
development set's figures (the sealed set is scored by `make heldout` only)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ROOT
from tools.real_voice import DECLINE, IGNORED, RED_FLAG, UNSURE, Case, ReplyKey, Report, judge, load_cases


def judged(*outcomes):
    report = Report("t")
    for expect, got in outcomes:
        judge(report, Case("a message", expect), got)
    return report


@pytest.mark.unit
def test_a_covered_question_is_right_wrong_or_unsure():
    report = judged(
        ("faq/does_it_hurt", [IGNORED, "faq/does_it_hurt"]),
        ("faq/does_it_hurt", ["faq/needles"]),
        ("faq/does_it_hurt", [DECLINE]),
        ("ask_cost", [UNSURE]),
    )
    assert (report.covered, report.right, report.wrong, report.unsure) == (4, 1, 1, 2)


@pytest.mark.unit
def test_an_uncovered_question_must_be_declined_not_answered():
    report = judged(("decline", [DECLINE]), ("decline", ["faq/vs_acupuncture"]), ("decline", [UNSURE]))
    assert (report.uncovered, report.declined, report.uncovered_answered, report.uncovered_unsure) == (3, 1, 1, 1)


@pytest.mark.unit
def test_two_questions_need_both_answers_in_order_a_booking_first_a_person_last():
    report = judged(
        (["ask_cost", "ask_referral"], ["ask_cost", "ask_referral"]),
        (["ask_cost", "ask_referral"], ["ask_referral", "ask_cost"]),
        (["ask_cost", "ask_referral"], ["ask_cost"]),
        (["faq/conditions_treated", "book_appointment"], ["book_appointment", "faq/conditions_treated", "other"]),
        (["human_handoff", "ask_hours"], ["ask_hours", "human_handoff"]),
    )
    assert (report.two, report.both, report.two_first_only) == (5, 3, 1)
    assert report.right == 4 and report.wrong == 1  # the reversed pair started with a confident wrong answer


@pytest.mark.unit
def test_red_flags_are_caught_anywhere_and_false_alarms_counted_on_every_other_message():
    report = judged(
        (RED_FLAG, [RED_FLAG]),
        (RED_FLAG, ["faq/side_effects"]),
        ("faq/side_effects", [RED_FLAG]),
        ("decline", [DECLINE]),
    )
    assert (report.red_flags, report.caught, report.ordinary, report.false_alarms) == (2, 1, 2, 1)


@pytest.mark.unit
def test_replies_are_mapped_back_to_the_answers_they_are():
    from actions.clinic_info import cost_answer, fact_answer, hours_answer
    from clinic import clock
    from clinic.profile import contact_details, load_profile

    key = ReplyKey()
    profile = load_profile(ROOT / "clinic.yml")
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    faq = yaml.safe_load((ROOT / "data" / "faq" / "needles.yml").read_text())
    assert key.label(faq["responses"]["utter_faq/needles"][0]["text"]) == "faq/needles"
    assert key.label(cost_answer(profile)) == "ask_cost"
    assert key.label(hours_answer(profile, clock.now())) == "ask_hours"
    assert key.label(fact_answer(profile, "ask_referral")) == "ask_referral"
    decline = domain["responses"]["utter_out_of_scope"][0]["text"].format(**contact_details(profile))
    assert key.label(decline) == DECLINE
    assert key.label(domain["responses"]["utter_disclaimer"][0]["text"]) == IGNORED
    assert key.label("something the assistant never says") == "other"


@pytest.mark.unit
def test_the_sets_are_well_formed():
    labels = {"decline", RED_FLAG, "book_appointment", "request_callback", "human_handoff"}
    labels |= {f"faq/{path.stem}" for path in (ROOT / "data" / "faq").glob("*.yml")}
    labels |= {
        "ask_cost",
        "ask_hours",
        "ask_location",
        "ask_contact",
        "ask_referral",
        "ask_what_to_wear",
        "ask_children",
    }
    for name in ("dev", "dev2", "sealed"):
        cases = load_cases(ROOT / "tests" / "realvoice" / f"{name}.yml")
        assert len(cases) >= 300
        for case in cases:
            assert set(case.labels) <= labels and len(case.labels) in (1, 2), case.expect


# Bars on the development set, a little under what it scores, so a change that makes the assistant
# understand real visitors worse fails here (the bars are for the sealed and outside sets).
@pytest.mark.servers
def test_the_development_set_through_the_rest_channel(capsys):
    from tools.real_voice import main

    assert main(["--quiet", str(ROOT / "tests" / "realvoice" / "dev.yml")]) == 0
    out = capsys.readouterr().out

    def pct(figure: str) -> float:
        found = re.search(rf"{figure} ([0-9.]+)%", out)
        assert found, out
        return float(found.group(1))

    assert pct("covered questions right") >= 88.0
    assert pct("confidently wrong") <= 7.0
    assert pct("uncovered questions declined") >= 65.0
    assert pct("two questions both answered") >= 75.0
    assert pct("red flags caught") >= 95.0
    assert pct("false alarms") <= 1.5
