"""The topics pages (console/topics.py) in this process, through the app's ASGI interface, on a copy
of data/: every topic shown; an answer edited, refused with the checker's words or as stale with
what was typed kept; examples added and removed; a topic added and removed; each change in the
history with a diff and in the audit log."""

from __future__ import annotations

import html
import re
import shutil

import pytest

from clinic.topic_files import check_faq_dir
from tests.conftest import ROOT
from tests.console_asgi import make_console, stop_console

pytestmark = pytest.mark.unit

SOURCE = "000_200aa1fa4ffcefa7.txt"


@pytest.fixture
def console(tmp_path):
    shutil.copytree(ROOT / "data", tmp_path / "data")
    made = make_console(tmp_path, data_dir=tmp_path / "data")
    made.data = tmp_path / "data"
    yield made
    stop_console(made)
    made.loop.close()


def signed_in(console):
    browser = console.browser()
    assert browser.log_in("anna").status == 303
    return browser


def version(page: str, form: str = "answer") -> str:
    part = page.split(f'id="{form}-form"', 1)[1]
    return re.search(r'name="version" value="([0-9a-f]+)"', part).group(1)


def alert(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", re.search(r'role="alert"[^>]*>(.*?)</p>', page, re.S).group(1)))


def textarea(page: str, name: str) -> str:
    return html.unescape(re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.S).group(1))


def answer_form(page, answer: str, label: str = "About the needles", sources=(SOURCE,)):
    return [("csrf_token", page.csrf_token), ("version", version(page.body)), ("label", label), ("answer", answer)] + [
        ("sources", source) for source in sources
    ]


def test_every_topic_with_its_label_answer_sources_and_examples(console):
    page = signed_in(console).get("/topics")
    assert page.status == 200
    assert page.body.count('<section class="card topic"') == 21
    assert '<a href="/topics/needles">About the needles</a>' in page.body
    assert "We use very fine, solid needles of the type used in acupuncture." in page.body
    assert "Sources: 000_200aa1fa4ffcefa7.txt, 001_cd5c5b53cfa080af.txt, 004_0243e746ea9cb264.txt" in page.body
    assert "<li>what needles do you use</li>" in page.body
    assert 'after you <a href="/publish">Publish</a>' in page.body


def test_an_answer_is_edited_in_its_file_with_the_checkers_rules_beside_it(console):
    browser = signed_in(console)
    page = browser.get("/topics/needles")
    assert "At most 80 words (the saved answer has 64)." in page.body
    assert "no 6 words in a row copied from a source article" in page.body
    assert 'aria-describedby="answer-rules"' in page.body
    reply = browser.post("/topics/needles/answer", answer_form(page, "Very fine, solid needles, each used once."))
    assert (reply.status, reply.header("location")) == (303, "/topics/needles?done=answer#answer-form")
    text = (console.data / "faq" / "needles.yml").read_text()
    assert text.startswith(f"# Sources: {SOURCE}\n")
    assert text.endswith("  - text: >-\n      Very fine, solid needles, each used once.\n")
    assert check_faq_dir(console.data / "faq")[1] == []
    shown = browser.get(reply.header("location")).body
    assert "Saved. Visitors get it after the next Publish." in shown
    change = console.records.changes()[0]
    assert (change.topic, change.action, change.summary) == (
        "needles",
        "edit-answer",
        "needles: answer, sources changed",
    )
    assert "+      Very fine, solid needles, each used once." in change.diff
    assert console.actions()[-1] == ("anna", "edit-answer", "127.0.0.1")


def test_a_save_the_checker_refuses_names_the_problem_and_keeps_what_was_typed(console):
    browser = signed_in(console)
    page = browser.get("/topics/needles")
    typed = " ".join(["needle"] * 81)
    reply = browser.post("/topics/needles/answer", answer_form(page, typed))
    assert reply.status == 422
    assert re.fullmatch(
        r"Not saved: data/faq/needles.yml:\d+: answer has 81 words; keep it to 80 Go to the form", alert(reply.body)
    )
    assert textarea(reply.body, "answer") == typed
    assert (console.data / "faq" / "needles.yml").read_text() == (ROOT / "data" / "faq" / "needles.yml").read_text()
    assert console.records.changes() == []
    assert console.actions()[-1] == ("anna", "edit-answer-refused", "127.0.0.1")
    none_ticked = browser.post("/topics/needles/answer", answer_form(page, "Fine needles.", sources=()))
    assert "name at least one source article" in alert(none_ticked.body)


def test_two_staff_editing_one_topic_the_second_save_is_refused_and_nothing_is_lost(console):
    orla, bob = signed_in(console), signed_in(console)
    orla_page, bob_page = orla.get("/topics/does_it_hurt"), bob.get("/topics/does_it_hurt")
    saved = orla.post("/topics/does_it_hurt/answer", answer_form(orla_page, "Orla's answer.", "Does it hurt?"))
    assert saved.status == 303
    refused = bob.post("/topics/does_it_hurt/answer", answer_form(bob_page, "Bob's answer.", "Does it hurt?"))
    assert refused.status == 409
    assert alert(refused.body).startswith("Someone else changed the topic does_it_hurt since you opened this page")
    assert textarea(refused.body, "answer") == "Bob's answer."  # what Bob typed
    assert "Orla&#39;s answer." in refused.body  # and what is saved now, beside it
    assert "Orla's answer." in (console.data / "faq" / "does_it_hurt.yml").read_text()
    # The page came back with the file's version now: Bob's second save, having seen Orla's, goes through.
    again = bob.post(
        "/topics/does_it_hurt/answer",
        [
            ("csrf_token", refused.csrf_token),
            ("version", version(refused.body)),
            ("label", "Does it hurt?"),
            ("answer", "Bob's answer, after reading Orla's."),
            ("sources", SOURCE),
        ],
    )
    assert again.status == 303
    assert [change.actor for change in console.records.changes()] == ["anna", "anna"]


def test_examples_are_added_and_removed_one_line_each(console):
    browser = signed_in(console)
    page = browser.get("/topics/aftercare")
    before = (console.data / "faq" / "aftercare.yml").read_text()
    added = browser.post(
        "/topics/aftercare/examples/add",
        {"csrf_token": page.csrf_token, "version": version(page.body, "add"), "examples": "can i swim after\n\n"},
    )
    assert added.header("location") == "/topics/aftercare?done=added#add-form"
    after = (console.data / "faq" / "aftercare.yml").read_text()
    assert after == before.replace("\nresponses:", "\n    - can i swim after\nresponses:")
    page = browser.get("/topics/aftercare")
    refused = browser.post(
        "/topics/aftercare/examples/add",
        {"csrf_token": page.csrf_token, "version": version(page.body, "add"), "examples": "does it hurt"},
    )
    assert refused.status == 422
    assert "is already an example of the topic does_it_hurt" in alert(refused.body)
    assert textarea(refused.body, "examples") == "does it hurt"
    removed = browser.post(
        "/topics/aftercare/examples/remove",
        {"csrf_token": page.csrf_token, "version": version(page.body, "remove"), "remove": "can i swim after"},
    )
    assert removed.header("location") == "/topics/aftercare?done=removed#remove-form"
    assert (console.data / "faq" / "aftercare.yml").read_text() == before
    assert [change.action for change in console.records.changes()] == ["remove-examples", "add-examples"]


def test_a_topic_is_added_and_removed(console):
    browser = signed_in(console)
    form = browser.get("/topics/new")
    fields = {
        "csrf_token": form.csrf_token,
        "name": "gift_vouchers",
        "label": "Gift vouchers",
        "examples": "\n".join(f"can i buy a gift voucher for a friend {i}" for i in range(14)),
        "answer": "Yes: ask at the front desk.",
        "sources": SOURCE,
    }
    refused = browser.post("/topics/new", fields)
    assert refused.status == 422 and "14 different examples; a topic needs at least 15" in alert(refused.body)
    assert textarea(refused.body, "examples") == fields["examples"] and 'value="gift_vouchers"' in refused.body
    fields["examples"] += "\ndo you sell vouchers"
    added = browser.post("/topics/new", fields)
    assert added.header("location") == "/topics/gift_vouchers?done=new"
    assert check_faq_dir(console.data / "faq")[1] == []
    page = browser.get("/topics/gift_vouchers")
    assert "<h1>Gift vouchers</h1>" in page.body
    unconfirmed = browser.post(
        "/topics/gift_vouchers/remove", {"csrf_token": page.csrf_token, "version": version(page.body, "delete")}
    )
    assert unconfirmed.status == 400 and (console.data / "faq" / "gift_vouchers.yml").exists()
    gone = browser.post(
        "/topics/gift_vouchers/remove",
        {"csrf_token": page.csrf_token, "version": version(page.body, "delete"), "confirm": "yes"},
    )
    assert gone.header("location") == "/topics?removed=gift_vouchers"
    assert not (console.data / "faq" / "gift_vouchers.yml").exists()
    assert browser.get("/topics/gift_vouchers").status == 404
    history = console.records.changes()
    assert [(c.action, bool(c.before), bool(c.after)) for c in history] == [
        ("remove-topic", True, False),
        ("add-topic", False, True),
    ]
    assert [action for _, action, _ in console.actions()[-4:]] == [
        "add-topic-refused",
        "add-topic",
        "remove-topic-refused",
        "remove-topic",
    ]


def test_the_topic_forms_need_a_session_and_its_csrf_token(console):
    anonymous = console.browser()
    assert anonymous.get("/topics").header("location") == "/login"
    assert anonymous.post("/topics/needles/answer", {}).header("location") == "/login"
    browser = signed_in(console)
    page = browser.get("/topics/needles")
    form = [pair for pair in answer_form(page, "Changed.") if pair[0] != "csrf_token"]
    assert browser.post("/topics/needles/answer", form).status == 403
    assert (console.data / "faq" / "needles.yml").read_text() == (ROOT / "data" / "faq" / "needles.yml").read_text()
