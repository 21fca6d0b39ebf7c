"""Changes to the topic files (clinic/topic_files.py), as the staff console makes them: lines
inserted and removed with the file's comments and layout kept, the checker run before a save,
wordings refused when another topic or intent has them, stale versions refused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from clinic.topic_files import (
    StaleVersion,
    TopicEditError,
    TopicFiles,
    add_examples,
    check_faq_dir,
    clean_example,
    new_topic_text,
    read_topic_text,
    remove_examples,
    replace_answer,
    replace_label,
    version_of,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

SOURCE = "000_200aa1fa4ffcefa7.txt"
HAND_KEPT = """# Sources: 000_200aa1fa4ffcefa7.txt
version: "3.1"
nlu:
- intent: faq/sample
  metadata:
    label: A sample
  # Kept by hand: staff wrote these from the visitor report.
  examples: |
{examples}
    # a comment line inside the block is text to YAML, not an example
responses:
  utter_faq/sample:
  - text: >-
      A short answer
      over two lines.
"""


def hand_kept(count: int = 15) -> str:
    return HAND_KEPT.format(examples="\n".join(f"    - sample question {i}" for i in range(count)))


@pytest.fixture
def data(tmp_path) -> Path:
    """A copy of the project's data/ folder."""
    shutil.copytree(ROOT / "data", tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def files(data) -> TopicFiles:
    return TopicFiles(data)


def changed_lines(before: str, after: str):
    """Lines removed and lines added, in order."""
    import difflib

    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [line[2:] for line in diff if line.startswith("- ")], [line[2:] for line in diff if line.startswith("+ ")]


# -- the line edits -------------------------------------------------------------


def test_an_example_is_one_line_inserted_after_the_last_with_everything_else_kept():
    before = hand_kept()
    after = add_examples(before, "sample", ["how long does it take?", "is it #1"])
    assert changed_lines(before, after) == ([], ["    - how long does it take?", "    - is it #1"])
    topic, _ = read_topic_text(Path("sample.yml"), after)
    assert topic.examples[-2:] == ["how long does it take?", "is it #1"]
    assert "  # Kept by hand: staff wrote these from the visitor report." in after


def test_removing_an_example_removes_its_line_only():
    before = hand_kept()
    after = remove_examples(before, "sample", ["sample question 3"])
    assert changed_lines(before, after) == (["    - sample question 3"], [])
    with pytest.raises(TopicEditError, match="'nothing like it' is not an example of sample"):
        remove_examples(before, "sample", ["nothing like it"])


def test_a_new_answer_replaces_the_old_lines_wrapped_as_the_files_wrap_them():
    before = hand_kept()
    answer = " ".join(["Most people feel a brief twitch or ache, and it passes within a day or two."] * 3)
    after = replace_answer(before, "sample", answer)
    removed, added = changed_lines(before, after)
    assert removed == ["      A short answer", "      over two lines."]
    assert all(line.startswith("      ") and len(line) <= 80 for line in added)
    assert yaml.safe_load(after)["responses"]["utter_faq/sample"] == [{"text": answer}]
    # An answer kept by hand on one quoted line becomes the block form.
    quoted = before.replace(
        "  - text: >-\n      A short answer\n      over two lines.\n", '  - text: "Short: quoted."\n'
    )
    assert replace_answer(quoted, "sample", "New one.").endswith("  - text: >-\n      New one.\n")


def test_a_label_that_yaml_would_misread_is_quoted():
    after = replace_label(hand_kept(), "sample", "Prices: what's covered?")
    assert '    label: "Prices: what\'s covered?"' in after
    assert yaml.safe_load(after)["nlu"][0]["metadata"]["label"] == "Prices: what's covered?"
    assert "    label: Does it hurt?" in replace_label(hand_kept(), "sample", "Does it hurt?")


def test_a_new_topic_file_is_laid_out_as_the_others_and_passes_the_checker(tmp_path):
    examples = [f"do you sell gift vouchers {i}" for i in range(15)]
    text = new_topic_text("gift_vouchers", "Gift vouchers", examples, "Yes: ask at the front desk.", [SOURCE])
    (tmp_path / "gift_vouchers.yml").write_text(text)
    topics, problems = check_faq_dir(tmp_path)
    assert problems == []
    assert topics[0].examples == examples and topics[0].answers == ["Yes: ask at the front desk."]
    assert text.startswith(f'# Sources: {SOURCE}\nversion: "3.1"\nnlu:\n- intent: faq/gift_vouchers\n')


def test_a_wording_is_one_line_of_plain_text():
    assert clean_example("  - do you\n do   cupping? ") == "do you do cupping?"
    # Rasa reads "[words](entity)" as a marked entity; a masked wording must not become one.
    assert clean_example("call me on [number](mobile)") == "call me on [number] (mobile)"
    assert clean_example("<script>alert(1)</script>") == "<script>alert(1)</script>"
    for bad, reason in [("", "empty"), ("?!", "has no words"), ("a\x1b[2Jb", "control or invisible")]:
        with pytest.raises(TopicEditError, match=reason):
            clean_example(bad)


# -- teaching -------------------------------------------------------------------


def test_teaching_adds_the_wording_to_the_topic_file(files, data):
    before = (data / "faq" / "techniques.yml").read_text()
    taught = files.teach("techniques", ["do you do cupping", "Do you do cupping?", "cupping too?"])
    assert taught.added == ["do you do cupping", "cupping too?"]  # the second is the first, as compared
    after = (data / "faq" / "techniques.yml").read_text()
    assert changed_lines(before, after) == ([], ["    - do you do cupping", "    - cupping too?"])
    assert taught.change.before == before and taught.change.after == after
    assert "+    - do you do cupping" in taught.change.diff and taught.change.diff.startswith(
        "--- data/faq/techniques.yml"
    )
    # Taught again: nothing to add, nothing written.
    again = files.teach("techniques", ["do you do cupping"])
    assert (again.added, again.already, again.change) == ([], ["do you do cupping"], None)


def test_teaching_a_wording_another_topic_or_intent_has_is_refused(files, data):
    before = {path.name: path.read_text() for path in (data / "faq").glob("*.yml")}
    with pytest.raises(TopicEditError, match=r"'Does it HURT\?' is already an example of the topic does_it_hurt"):
        files.teach("techniques", ["Does it HURT?"])
    # "Do You Offer Cupping Therapy?" is one of out_of_scope's: the assistant declines it on purpose.
    with pytest.raises(
        TopicEditError,
        match=r"already an example of the intent out_of_scope \(data/nlu/out_of_scope.yml\)",
    ):
        files.teach("techniques", ["do you offer cupping therapy"])
    assert {path.name: path.read_text() for path in (data / "faq").glob("*.yml")} == before


def test_a_change_is_checked_as_make_check_would_and_refused_with_its_words(files):
    view = files.view("needles")
    with pytest.raises(TopicEditError, match=r"data/faq/needles.yml:\d+: answer has 81 words; keep it to 80"):
        files.edit("needles", view.version, view.label, " ".join(["word"] * 81), view.sources)
    with pytest.raises(TopicEditError, match="a topic needs at least 15"):
        files.remove_examples("needles", view.version, view.examples[:-14])
    with pytest.raises(TopicEditError, match="'ten' is not a source article file name"):
        files.edit("needles", view.version, view.label, "Fine.", ["ten"])
    assert files.view("needles") == view  # nothing written


def test_a_save_from_a_stale_form_is_refused_and_the_newer_text_kept(files, data):
    opened = files.view("does_it_hurt")  # two staff open the same topic
    first = files.edit("does_it_hurt", opened.version, opened.label, "A little, for a moment.", opened.sources)
    assert first.action == "edit-answer" and "-      " in first.diff
    with pytest.raises(StaleVersion, match="Someone else changed the topic does_it_hurt") as refused:
        files.edit("does_it_hurt", opened.version, opened.label, "Hardly at all.", opened.sources)
    assert refused.value.current == (data / "faq" / "does_it_hurt.yml").read_text() == first.after
    # A change by hand makes every open form stale too.
    now = files.view("does_it_hurt")
    path = data / "faq" / "does_it_hurt.yml"
    path.write_text(path.read_text().replace("A little, for a moment.", "A little, briefly."))
    with pytest.raises(StaleVersion):
        files.add_examples("does_it_hurt", now.version, ["will it sting"])
    gone = files.view("what_is_dry_needling")
    files.remove("what_is_dry_needling", gone.version)
    with pytest.raises(StaleVersion, match="removed since you opened this page") as refused:
        files.edit("what_is_dry_needling", gone.version, gone.label, "Typed meanwhile.", gone.sources)
    assert refused.value.current == ""


def test_adding_editing_and_removing_keep_the_files_as_the_checker_wants(files, data):
    view = files.view("aftercare")
    added = files.add_examples(
        "aftercare", view.version, ["- can i lift weights the evening after needling", "", "  shower after?  "]
    )
    assert added.summary == "aftercare: +2: can i lift weights the evening after needling; shower after?"
    view = files.view("aftercare")
    with pytest.raises(TopicEditError, match="'shower after' is already an example of this topic"):
        files.add_examples("aftercare", view.version, ["shower after"])
    files.remove_examples("aftercare", view.version, ["shower after?"])
    view = files.view("aftercare")
    edited = files.edit(
        "aftercare", view.version, "After your session", "Drink water and keep moving gently.", [SOURCE]
    )
    assert edited.summary == "aftercare: label, answer, sources changed"
    examples = [f"can i buy a gift voucher for my mum {i}" for i in range(15)]
    created = files.create("gift_vouchers", "Gift vouchers", examples, "Yes, at the front desk.", [SOURCE])
    assert created.before == "" and (data / "faq" / "gift_vouchers.yml").read_text() == created.after
    with pytest.raises(TopicEditError, match="exists already"):
        files.create("gift_vouchers", "Gift vouchers", examples, "Yes.", [SOURCE])
    with pytest.raises(TopicEditError, match="14 different examples; a topic needs at least 15"):
        files.create("vouchers", "Vouchers", examples[:14], "Yes.", [SOURCE])
    with pytest.raises(TopicEditError, match="lower-case letters"):
        files.create("Gift Vouchers", "Gift vouchers", examples, "Yes.", [SOURCE])
    _, problems = check_faq_dir(data / "faq")
    assert problems == []
    removed = files.remove("gift_vouchers", files.view("gift_vouchers").version)
    assert removed.after == "" and not (data / "faq" / "gift_vouchers.yml").exists()
    assert not list((data / "faq").glob(".*"))  # no temporary file left behind


def test_a_saved_file_keeps_its_permissions(files, data):
    path = data / "faq" / "needles.yml"
    os.chmod(path, 0o644)
    old_umask = os.umask(0o077)  # the console's
    try:
        view = files.view("needles")
        files.add_examples("needles", view.version, ["are the needles bendy"])
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_versions_are_digests_of_the_text():
    assert version_of("a") == version_of("a") != version_of("a\n")
    assert len(version_of("")) == 20
