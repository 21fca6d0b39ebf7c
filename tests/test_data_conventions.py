"""The knowledge follows the one-file-per-topic conventions, and answers are our own words."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clinic.topic_files import (
    RUN_LENGTH,
    Problem,
    check_faq_dir,
    load_fingerprints,
    normalise,
    read_topic,
    shingle_hashes,
)
from tests.conftest import ROOT
from tests.seed_fingerprints import fingerprint_files

pytestmark = pytest.mark.unit

FAQ_DIR = ROOT / "data" / "faq"
HELDOUT = ROOT / "tests" / "heldout" / "faq_heldout.yml"
SEEDS_DIR = ROOT.parent / "shared" / "seeds"

# The contract: an outside evaluation scores the NLU parse against these names.
CONTRACT_TOPICS = {
    "what_is_dry_needling",
    "needles",
    "how_it_works",
    "trigger_points",
    "causes",
    "conditions_treated",
    "vs_acupuncture",
    "does_it_hurt",
    "side_effects",
    "aftercare",
    "session_length",
    "number_of_sessions",
    "how_soon_relief",
    "is_it_safe",
    "who_performs",
    "what_to_expect",
    "twitch_response",
    "combined_treatment",
    "vs_massage",
    "techniques",
}
SOURCE_ARTICLES = {
    "000_200aa1fa4ffcefa7.txt",
    "001_cd5c5b53cfa080af.txt",
    "002_c20843ea75780e3d.txt",
    "003_3316940171931a3d.txt",
    "004_0243e746ea9cb264.txt",
}


@pytest.fixture(scope="module")
def checked():
    return check_faq_dir(FAQ_DIR)


def test_every_contract_topic_has_its_own_file(checked):
    topics, _ = checked
    # The FAQ issue's twenty topics, and faq/precautions from the safety issue.
    assert {topic.name for topic in topics} == CONTRACT_TOPICS | {"precautions"}


def test_topic_files_follow_the_conventions(checked):
    _, problems = checked
    assert problems == [], "\n".join(str(p) for p in problems)


def test_sources_name_real_articles(checked):
    topics, _ = checked
    for topic in topics:
        assert topic.sources, topic.path
        assert set(topic.sources) <= SOURCE_ARTICLES, f"{topic.path}: {topic.sources}"


def test_answers_share_no_run_of_words_with_the_articles(checked):
    topics, _ = checked
    fingerprints = load_fingerprints()
    for topic in topics:
        for answer in topic.answers:
            copied = shingle_hashes(answer) & fingerprints
            assert not copied, f"{topic.path}: the answer copies a {RUN_LENGTH}-word run from an article"


@pytest.mark.skipif(not SEEDS_DIR.is_dir(), reason="the source articles are not beside this checkout")
def test_fingerprints_match_the_articles():
    assert load_fingerprints() == fingerprint_files(sorted(SEEDS_DIR.glob("*.txt")))


def test_heldout_questions_are_never_trained_on(checked):
    topics, _ = checked
    trained = {normalise(example) for topic in topics for example in topic.examples}
    for path in (ROOT / "data" / "nlu").glob("*.yml"):
        for block in yaml.safe_load(path.read_text())["nlu"]:
            trained |= {normalise(line.strip()[2:]) for line in block["examples"].splitlines() if line.strip()}
    heldout = yaml.safe_load(HELDOUT.read_text())
    clinic = yaml.safe_load((ROOT / "tests" / "heldout" / "clinic_heldout.yml").read_text())
    messages = [m for ms in heldout["topics"].values() for m in ms] + heldout["off_topic"]
    messages += [m for ms in clinic["intents"].values() for m in ms]
    for name in ("red_flag_heldout.yml", "red_flag_final.yml", "red_flag_unseen.yml", "precautions_heldout.yml"):
        safety = yaml.safe_load((ROOT / "tests" / "heldout" / name).read_text())
        messages += [m for key in ("red_flag", "not_red_flag", "precautions") for m in safety.get(key) or []]
    leaked = [m for m in messages if normalise(m) in trained]
    assert leaked == []
    assert set(heldout["topics"]) == CONTRACT_TOPICS


# The checker itself must catch each broken convention, with file and line.

GOOD = """# Sources: 000_200aa1fa4ffcefa7.txt
version: "3.1"
nlu:
- intent: faq/sample
  metadata:
    label: A sample
  examples: |
{examples}
responses:
  utter_faq/sample:
  - text: {answer}
"""


def _write(tmp_path: Path, examples: int = 15, answer: str = "A short answer.", text: str = None) -> Path:
    body = "\n".join(f"    - question number {i}" for i in range(examples))
    path = tmp_path / "sample.yml"
    path.write_text(text if text is not None else GOOD.format(examples=body, answer=answer))
    return path


def messages(problems):
    return [problem.message for problem in problems]


def test_checker_accepts_a_good_file(tmp_path):
    topic, problems = read_topic(_write(tmp_path))
    assert problems == []
    assert topic.label == "A sample" and len(topic.examples) == 15


def test_checker_counts_examples(tmp_path):
    _, problems = read_topic(_write(tmp_path, examples=14))
    assert messages(problems) == ["14 examples; a topic needs at least 15"]
    assert problems[0].line == 7


def test_checker_limits_answer_length(tmp_path):
    _, problems = read_topic(_write(tmp_path, answer=" ".join(["word"] * 81)))
    assert messages(problems) == ["answer has 81 words; keep it to 80"]


def test_checker_wants_the_sources_line(tmp_path):
    text = GOOD.format(examples="\n".join(f"    - q {i}" for i in range(15)), answer="ok").split("\n", 1)[1]
    _, problems = read_topic(_write(tmp_path, text=text))
    assert messages(problems) == ["first line must be '# Sources: <article file>, ...'"]


def test_checker_wants_intent_named_after_file(tmp_path):
    text = GOOD.format(examples="\n".join(f"    - q {i}" for i in range(15)), answer="ok")
    path = tmp_path / "other.yml"
    path.write_text(text)
    _, problems = read_topic(path)
    assert any("exactly one intent, faq/other" in m for m in messages(problems))
    assert any("exactly one answer, utter_faq/other" in m for m in messages(problems))


def test_checker_finds_examples_repeated_across_topics(tmp_path):
    _write(tmp_path)
    twin = tmp_path / "twin.yml"
    twin.write_text(
        GOOD.replace("faq/sample", "faq/twin")
        .replace("utter_faq/sample", "utter_faq/twin")
        .format(examples="\n".join(f"    - Question number {i}?" for i in range(15)), answer="ok")
    )
    _, problems = check_faq_dir(tmp_path)
    repeated = [p for p in problems if "is also in" in p.message]
    assert len(repeated) == 15
    assert isinstance(repeated[0], Problem) and repeated[0].path in {twin, tmp_path / "sample.yml"}


def test_checker_finds_a_run_of_words_copied_from_an_article(tmp_path, monkeypatch):
    article = "the quick brown fox jumps over the lazy dog"
    monkeypatch.setattr("clinic.topic_files.load_fingerprints", lambda: frozenset(shingle_hashes(article)))
    _, problems = read_topic(_write(tmp_path, answer="In our own words, the quick brown fox jumps over it."))
    assert messages(problems) == [
        "the answer copies 6 words in a row from a source article ('the quick brown fox jumps over'); "
        "say it in the clinic's own words"
    ]
    assert problems[0].line == 25
