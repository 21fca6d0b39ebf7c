"""The red-flag safety net: urgent reports are caught in words the classifier may not know,
ordinary questions are left alone, and the guard only ever adds red flags.

The sentences here are this test's own (not the training data, not the held-out sets).
"""

from __future__ import annotations

import pytest

from clinic_nlu.red_flag_guard import red_flag_decision
from clinic_nlu.red_flags import PATTERNS, urgent_symptom

pytestmark = pytest.mark.unit

URGENT = {
    "severe": [
        "worst headache of my life since the neck needling",
        "pain in my hip is 10/10 since the session and getting worse",
        "i cant put any weight on my leg after the needling",
        "my heart is racing and i feel dizzy, started on the table",
        "my calf is swollen and my foot has gone cold and pale",
    ],
    "breathing": [
        "i cant breathe properly since the needles in my upper back",
        "Struggling to get any air in, please help",
        "my wife is short of breath after her treatment",
        "breathing feels shallow and laboured since lunch",
        "it hurts when i breathe in, started after physio",
        "breath coming in short gasps since the session, it hurts to talk",
        "each breath feels like a struggle tonight",
        "my throat feels like it is closing up",
    ],
    "chest": [
        "sharp pain in my chest",
        "my chest feels heavy and tight",
        "there is a crushing pressure across my chest",
        "heavy pain behind the breastbone",
        "chest aching badly since the dry needling",
        "my chest has felt sore inside since the needling this morning",
    ],
    "fainting": [
        "I passed out in the waiting room",
        "my dad collapsed getting out of the car after his session",
        "i feel like im going to pass out",
        "everything went black for a few seconds",
        "was unconscious for a bit, feel awful",
    ],
    "bleeding": [
        "the needle hole will not stop bleeding",
        "blood is pouring out of my calf",
        "it's still bleeding an hour later",
        "bleeding heavily from my neck",
        "ive soaked a towel with blood",
    ],
    "infection": [
        "i have a fever and the needle area is red and swollen",
        "there's pus coming from the spot where you needled",
        "red streaks going up my arm",
        "the redness is spreading fast",
        "shivering with chills and my back where the needle went in is hot",
        "i think the needle site is infected",
        "marked the edge of the red patch with a pen and by morning the redness had spread past it",
    ],
    "nerves": [
        "my arm has gone numb since the session",
        "suddenly weak down my left side",
        "my face is drooping",
        "his speech is slurred",
        "i cant lift my arm since the needling yesterday",
        "my leg keeps giving way",
    ],
    "emergency": [
        "should i call an ambulance",
        "going to A&E now",
    ],
}

CALM = [
    "I bruise really easily, will I bleed a lot with the needling?",
    "little red dots where the needles went in, not swollen or hot, just there. is that fine?",
    "tight chest wall since a bad cough two years ago, heart is fine, any chance needling helps?",
    "my heart starts racing whenever I see a needle, what if I panic on the table?",
    "what if I faint? I always pass out at blood tests",
    "can dry needling puncture a lung?",
    "could i faint during the session, i hate needles",
    "is it normal to be sore the next day",
    "a small bruise came up where the needle went in",
    "will i bleed much",
    "is there a risk of infection",
    "can u get an infected spot from needling",
    "does it help numbness in my fingers from carpal tunnel",
    "can it help chest muscle tightness from the gym?",
    "my chest is tight from bench press, do you treat pecs",
    "sore chest from push ups yesterday lol",
    "my arm has been weak since an injury years ago, can physio help?",
    "is my chest tightness from asthma a problem for needling?",
    "weak grip from an old injury, is needling good for that",
    "i get short of breath climbing stairs, is needling worth trying for my back",
    "i'm pregnant, can i have dry needling",
    "i take warfarin, is that a problem",
    "got a mild cold, should i still come tomorrow",
    "my calf ached the day after, totally normal right?",
    "what warning signs should i look out for",
    "how much does a session cost",
    "can I book for thursday, my back is killing me",
    "what happens if someone faints in your clinic",
]


@pytest.mark.parametrize("kind, text", [(kind, text) for kind, texts in URGENT.items() for text in texts])
def test_urgent_reports_are_caught(kind, text):
    assert urgent_symptom(text) is not None, text


@pytest.mark.parametrize("text", CALM)
def test_ordinary_questions_are_left_to_the_classifier(text):
    assert urgent_symptom(text) is None


def test_every_category_has_patterns_and_case_and_apostrophes_do_not_matter():
    assert set(URGENT) == set(PATTERNS)
    assert urgent_symptom("I CAN\u2019T BREATHE") == "breathing"


def test_the_guard_adds_red_flags_and_never_removes_one():
    ranking = [{"name": "faq", "confidence": 0.7}, {"name": "red_flag", "confidence": 0.2}]
    assert red_flag_decision("blood gushing from the needle spot", {"name": "faq"}, ranking) == 1.0
    assert red_flag_decision("does it hurt?", {"name": "faq"}, ranking) is None
    assert red_flag_decision("anything", {"name": "red_flag", "confidence": 0.9}, []) is None


def test_an_unsure_parse_whose_best_guess_is_red_flag_becomes_red_flag():
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.6},
        {"name": "red_flag", "confidence": 0.45},
        {"name": "faq", "confidence": 0.3},
    ]
    assert red_flag_decision("feeling really off", {"name": "nlu_fallback"}, ranking) == 0.45
    ranking[1], ranking[2] = ranking[2], ranking[1]
    assert red_flag_decision("feeling really off", {"name": "nlu_fallback"}, ranking) is None
