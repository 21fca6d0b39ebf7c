"""The trained model on the safety test sets (tests/heldout/, never trained on).

- red_flag_heldout.yml and red_flag_final.yml: the project's red-flag sets, written apart from
  the training data (the second after the safety net's first version). Every urgent message in
  them must be caught (the issue's "no misses"). Both were used while the safety net's word
  patterns were built (their misses were read), so they are development sets now.
- red_flag_unseen.yml: written by a third helper after that, scored once and never read
  message by message; its figure is the honest estimate for wordings nobody tuned on.
- precautions_heldout.yml: questions for faq/precautions.
The false-alarm figures count ordinary messages (soreness, "what if" risk questions,
precautions) that got the safety message.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ROOT
from tools.evaluation import load_heldout, score

pytestmark = pytest.mark.model

HELDOUT = ROOT / "tests" / "heldout"
UNSEEN_RED_FLAG_BAR = 0.95
FALSE_ALARM_LIMIT = 0.10
PRECAUTIONS_BAR = 0.75


def scored(parser, name):
    return asyncio.run(score(parser, load_heldout(HELDOUT / name)))


@pytest.mark.parametrize("name, urgent, calm", [("red_flag_heldout.yml", 100, 80), ("red_flag_final.yml", 120, 100)])
def test_every_red_flag_in_the_development_sets_is_caught(parser, name, urgent, calm):
    report = scored(parser, name)
    assert report.red_flag_total >= urgent and report.calm_total >= calm
    missed = [text for expected, _, text in report.misses if expected == "red_flag"]
    assert missed == [], report.summary()
    assert report.false_alarms <= FALSE_ALARM_LIMIT * report.calm_total, report.summary()


def test_the_unseen_red_flag_set(parser):
    report = scored(parser, "red_flag_unseen.yml")
    assert report.red_flag_total >= 100 and report.calm_total >= 80
    # Only the figures are asserted (and printed on failure): this set is not read message by message.
    assert report.red_flag_caught >= UNSEEN_RED_FLAG_BAR * report.red_flag_total, report.summary()
    assert report.false_alarms <= FALSE_ALARM_LIMIT * report.calm_total, report.summary()


def test_precautions_are_answered(parser):
    report = scored(parser, "precautions_heldout.yml")
    assert report.precautions_total >= 40
    assert report.precautions_correct >= PRECAUTIONS_BAR * report.precautions_total, report.summary()
