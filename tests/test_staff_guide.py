"""The staff guide (docs/updating.md), followed by a test: add a topic by copying a topic file,
let the checker name what is wrong, fix it, train, and see the new topic answered by the running
assistant. Done on a copy of the data, so the project's own model is untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tools.servers import start_assistant

pytestmark = pytest.mark.system

BIN = Path(sys.executable).parent
EXAMPLES = [
    "do you sell gift vouchers",
    "can i buy a gift voucher",
    "gift card for a dry needling session",
    "can i get a gift certificate",
    "do you do vouchers",
    "present voucher for a session",
    "buy a session as a gift",
    "gift voucher price",
    "are gift cards available",
    "can i gift a treatment",
    "christmas voucher for needling",
    "birthday gift voucher",
    "do you have e-vouchers",
    "how do gift vouchers work",
    "voucher for my dad's birthday",
]
ANSWER = "Yes: gift vouchers for any session are sold at reception, or call the clinic to buy one by phone."


def new_topic(source: str, examples) -> str:
    """Section 4 of the guide: a copy of a topic file with the three names, label, examples and answer changed."""
    lines = source.splitlines()
    out, in_examples = [], False
    for line in lines:
        if line.startswith("- intent: faq/"):
            line = "- intent: faq/gift_vouchers"
        elif line.strip().startswith("label:"):
            line = "    label: Gift vouchers"
        elif line.strip().startswith("utter_faq/"):
            line = "  utter_faq/gift_vouchers:"
        if line.strip() == "examples: |":
            out.append(line)
            out.extend(f"    - {example}" for example in examples)
            in_examples = True
            continue
        if in_examples:
            if line.startswith("    - "):
                continue
            in_examples = False
        out.append(line)
    text = "\n".join(out) + "\n"
    start = text.index("  - text: >-")
    return text[:start] + f"  - text: >-\n      {ANSWER}\n"


def test_a_new_topic_is_checked_trained_and_answered(tmp_path):
    work = tmp_path / "project"
    shutil.copytree(ROOT / "data", work / "data")
    for name in ("config.yml", "domain.yml"):
        shutil.copy(ROOT / name, work / name)
    (work / ".spacy").symlink_to(ROOT / ".spacy")
    env = dict(os.environ, PYTHONPATH=str(ROOT), RASA_TELEMETRY_ENABLED="false")
    topic = work / "data" / "faq" / "gift_vouchers.yml"
    source = (ROOT / "data" / "faq" / "session_length.yml").read_text()

    # First attempt with 14 examples: the checker names the file and line.
    topic.write_text(new_topic(source, EXAMPLES[:14]))
    check = [str(BIN / "python"), "-m", "tools.faq_conventions", str(work / "data" / "faq")]
    first = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 1
    assert f"{topic}:7: 14 examples; a topic needs at least 15" in first.stdout

    topic.write_text(new_topic(source, EXAMPLES))
    # Step 6 of section 4: the questions the assistant used to decline leave out_of_scope.yml.
    declined = work / "data" / "nlu" / "out_of_scope.yml"
    lines = declined.read_text().splitlines(keepends=True)
    kept = [line for line in lines if "voucher" not in line.lower()]
    assert len(kept) < len(lines)
    declined.write_text("".join(kept))
    second = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stdout
    assert "22 topics checked, 0 problem(s)" in second.stdout

    def train(name: str) -> str:
        """`make train`'s command (runtime/training.py) in the copy; its output."""
        trained = subprocess.run(
            [
                str(BIN / "python"),
                "-m",
                "runtime.train",
                "--config",
                "config.yml",
                "--domain",
                "domain.yml",
                "--data",
                "data",
                "--out",
                "models",
                "--fixed-model-name",
                name,
            ],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
        return trained.stdout + trained.stderr

    def answer(name: str) -> str:
        (tmp_path / name).mkdir()
        running = start_assistant(work / "models" / f"{name}.tar.gz", tmp_path / name)
        try:
            return [
                reply.get("text") for reply in running.say(str(uuid.uuid4()), "could i buy my sister a gift voucher?")
            ][-1]
        finally:
            running.stop()

    first = train("with-vouchers")
    assert "Starting to train component 'LinearResponseSelector'" in first
    assert answer("with-vouchers") == ANSWER

    # Section 3 of the guide: change an answer and train again. No NLU component learns from
    # the answers' wording, so Rasa's cache serves every one of them.
    edited = ANSWER.replace("at reception", "at reception or on our website")
    topic.write_text(topic.read_text().replace(ANSWER, edited))
    again = train("edited-answer")
    assert "Starting to train component" not in again, again[-3000:]
    assert answer("edited-answer") == edited
