"""The chat widget in a real browser: Debian's Chromium, driven by Playwright, against the real Rasa server.

No browser is downloaded: Playwright is pointed at /usr/bin/chromium (`make test` installs
Debian's package when it is missing). Screenshots are kept in results/screenshots/.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, List

import pytest
import yaml

from tests.browser import SCREENSHOTS, Watch, launched_chromium, phone_page
from tests.conftest import MODEL_PATH, ROOT
from tools.servers import start_assistant

pytestmark = pytest.mark.servers

PROFILE = yaml.safe_load((ROOT / "clinic.yml").read_text())
XSS = "<img src=x onerror=alert(1)>"
DISCLAIMER = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]["utter_disclaimer"][0]["text"]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from launched_chromium()


@pytest.fixture
def page(browser):
    yield from phone_page(browser, 60_000)


def demo_url(assistant) -> str:
    return f"{assistant.base_url}/webhooks/website/demo"


def bot_texts(page) -> List[str]:
    return page.locator(".msg.bot:not(.typing) .text").all_text_contents()


def all_texts(page) -> List[str]:
    return page.locator(".msg:not(.typing) .text").all_text_contents()


def wait_for_bot_messages(page, count: int) -> List[str]:
    """Waits until the log holds ``count`` bot messages and the assistant has stopped typing."""
    page.locator(".msg.bot:not(.typing)").nth(count - 1).wait_for()
    page.locator(".typing").wait_for(state="detached")
    return bot_texts(page)


def open_widget(page) -> None:
    page.locator(".launcher").click()
    page.locator(".reply").first.wait_for()


def ask(page, text: str) -> List[str]:
    before = len(bot_texts(page))
    page.locator("#ca-input").fill(text)
    page.locator("#ca-input").press("Enter")
    return wait_for_bot_messages(page, before + 1)[before:]


def shadow_eval(page, script: str):
    """Runs ``script`` with ``root`` bound to the widget's shadow root."""
    return page.evaluate(f"() => {{ const root = document.querySelector('#clinic-assistant').shadowRoot; {script} }}")


def test_a_typed_question_gets_its_answer_with_a_typing_indicator(page, website, answers):
    page.goto(demo_url(website.assistant))
    open_widget(page)
    assert bot_texts(page) == [PROFILE["website"]["greeting"]]
    held = []
    page.route("**/webhooks/website/webhook", lambda route: held.append(route))
    page.locator("#ca-input").fill("does dry needling hurt?")
    page.locator("#ca-input").press("Enter")
    page.locator(".typing").wait_for()  # shown while the request is on its way
    assert len(held) == 1 and json.loads(held[0].request.post_data)["message"] == "does dry needling hurt?"
    held[0].continue_()
    # The first reply of a conversation starts with the disclaimer.
    assert wait_for_bot_messages(page, 3)[1:] == [DISCLAIMER, answers["does_it_hurt"]]
    assert page.locator("#ca-input").input_value() == ""
    page.unroute("**/webhooks/website/webhook")


def test_a_quick_reply_shows_its_title_sends_its_payload_and_is_answered(page, website, answers):
    page.goto(demo_url(website.assistant))
    open_widget(page)
    titles = page.locator(".reply").all_text_contents()
    assert titles == [reply["title"] for reply in PROFILE["website"]["quick_replies"]]
    with page.expect_request("**/webhooks/website/webhook") as request:
        page.locator(".reply", has_text="Is it acupuncture?").click()
    assert json.loads(request.value.post_data)["message"] == '/choose_faq_topic{"faq_topic": "vs_acupuncture"}'
    assert wait_for_bot_messages(page, 3)[1:] == [DISCLAIMER, answers["vs_acupuncture"]]
    assert all_texts(page)[1] == "Is it acupuncture?"
    assert page.locator(".reply").count() == 0  # old quick replies go once answered


def test_bot_buttons_become_quick_replies(page, website):
    page.goto(demo_url(website.assistant))
    open_widget(page)
    ask(page, "I'd like to book an appointment")
    ask(page, "Orla Fenwick")
    ask(page, "orla@mail.example")
    replies = ask(page, "next tuesday at 10am")
    assert any("agree" in text for text in replies), replies
    assert page.locator(".reply").all_text_contents() == ["Yes, I agree", "No"]


def test_a_reload_keeps_the_transcript_and_the_conversation_goes_on(page, website):
    page.goto(demo_url(website.assistant))
    open_widget(page)
    assert any("What name" in text for text in ask(page, "I'd like to book an appointment"))
    before = all_texts(page)
    sender = page.evaluate("() => JSON.parse(Object.entries(localStorage)[0][1]).sender")
    page.reload()
    page.locator(".msg").first.wait_for()
    assert page.locator(".panel").is_visible()  # it stays open across pages
    assert all_texts(page) == before
    # The server still has the form open for this sender: a name is taken as the answer.
    assert any("phone number or email" in text for text in ask(page, "Orla Fenwick"))
    assert page.evaluate("() => JSON.parse(Object.entries(localStorage)[0][1]).sender") == sender


def test_start_over_begins_a_new_conversation(page, website):
    page.goto(demo_url(website.assistant))
    open_widget(page)
    ask(page, "I'd like to book an appointment")
    sender = page.evaluate("() => JSON.parse(Object.entries(localStorage)[0][1]).sender")
    page.locator(".restart").click()
    page.locator(".reply").first.wait_for()
    assert bot_texts(page) == [PROFILE["website"]["greeting"]]
    assert page.evaluate("() => JSON.parse(Object.entries(localStorage)[0][1]).sender") != sender
    # A name now is not a booking answer: the new conversation has no form open.
    assert not any("phone number or email" in text for text in ask(page, "Orla Fenwick"))


def stored_rows(tracker: Path, sender: str) -> int:
    with sqlite3.connect(tracker) as connection:
        return connection.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[0]


def test_delete_this_conversation_erases_it_on_the_server_and_in_the_browser(page, website):
    page.goto(demo_url(website.assistant))
    open_widget(page)
    ask(page, "i'm Wilhelmina Quarrington, does it hurt?")
    sender = page.evaluate("() => JSON.parse(Object.entries(localStorage)[0][1]).sender")
    tracker = website.assistant.logs[0].parent / "tracker.db"
    assert stored_rows(tracker, sender) > 0
    page.locator(".forget").click()
    page.locator(".status", has_text="has been deleted").wait_for()
    assert stored_rows(tracker, sender) == 0
    for path in tracker.parent.glob("tracker.db*"):
        assert b"Quarrington" not in path.read_bytes(), path.name
    assert "Quarrington" not in page.evaluate("() => JSON.stringify(localStorage)")
    assert page.evaluate("() => JSON.parse(Object.entries(localStorage)[0][1]).sender") != sender
    assert not any("Quarrington" in text for text in all_texts(page))
    assert bot_texts(page)[-1] == PROFILE["website"]["greeting"]  # a new conversation, ready


def test_the_browser_forgets_an_old_transcript(page, website):
    page.goto(demo_url(website.assistant))
    open_widget(page)
    ask(page, "how long is a session?")
    # The last message a little over a day ago (the default keep time is 24 hours).
    page.evaluate(
        "() => { const [key, raw] = Object.entries(localStorage)[0]; const s = JSON.parse(raw);"
        " s.at = Date.now() - 25 * 3600 * 1000; localStorage.setItem(key, JSON.stringify(s)); }"
    )
    page.reload()
    open_widget(page)
    assert not any("how long is a session" in text for text in all_texts(page))


def test_a_reply_arriving_after_start_over_is_dropped(page, website, answers):
    page.goto(demo_url(website.assistant))
    open_widget(page)
    held = []
    page.route("**/webhooks/website/webhook", lambda route: held.append(route))
    page.locator("#ca-input").fill("does dry needling hurt?")
    page.locator("#ca-input").press("Enter")
    page.locator(".typing").wait_for()
    page.locator(".restart").click()
    page.locator(".typing").wait_for(state="detached")
    with page.expect_response("**/webhooks/website/webhook") as late:
        held[0].continue_()
    assert late.value.ok  # the old conversation's answer did arrive...
    page.unroute("**/webhooks/website/webhook")
    ask(page, "is it acupuncture?")  # (answered after the late reply was handled)
    assert all_texts(page) == [  # ...and was not shown in the new one
        PROFILE["website"]["greeting"],
        "is it acupuncture?",
        DISCLAIMER,
        answers["vs_acupuncture"],
    ]


def test_markup_typed_by_a_visitor_is_shown_as_text(page, website):
    page.goto(demo_url(website.assistant))
    open_widget(page)
    ask(page, XSS)
    assert all_texts(page)[1] == XSS
    assert shadow_eval(page, "return root.querySelectorAll('img, script').length") == 0
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    # watch.assert_clean() at teardown: no alert dialog opened, no script error.


def test_markup_in_a_reply_is_text_and_only_safe_links_are_clickable(page, website):
    reply = (
        "<b>Bold?</b> <script>alert(1)</script> [click me](javascript:alert(1)) [data](data:text/html,hi) "
        "More at https://clinic.example/info. Call +1 202 555 0100, write to hello@clinic.example "
        "or [book online](https://clinic.example/book)."
    )
    fake = [{"recipient_id": "x", "text": reply, "buttons": [{"title": "<i>Yes</i>", "payload": "/affirm"}]}]
    page.goto(demo_url(website.assistant))
    open_widget(page)
    page.route(
        "**/webhooks/website/webhook",
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(fake)),
    )
    ask(page, "show me links")
    message = page.locator(".msg.bot").nth(1)
    assert message.locator(".text").text_content() == (
        "<b>Bold?</b> <script>alert(1)</script> [click me](javascript:alert(1)) [data](data:text/html,hi) "
        "More at https://clinic.example/info. Call +1 202 555 0100, write to hello@clinic.example "
        "or book online."
    )
    links = message.locator("a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == [
        "https://clinic.example/info",
        "tel:+12025550100",
        "mailto:hello@clinic.example",
        "https://clinic.example/book",
    ]
    assert links.first.get_attribute("rel") == "noopener noreferrer"
    assert shadow_eval(page, "return root.querySelectorAll('.msg b, .msg script, .msg i').length") == 0
    assert page.locator(".reply").all_text_contents() == ["<i>Yes</i>"]
    page.unroute("**/webhooks/website/webhook")


def test_the_whole_flow_by_keyboard_alone(page, website, answers):
    page.goto(demo_url(website.assistant))
    focused = (
        "() => { const r = document.querySelector('#clinic-assistant').shadowRoot; "
        "const a = r && r.activeElement; return a ? (a.id || a.className) : null; }"
    )
    for _ in range(15):  # Tab through the page's own links to the launcher
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "launcher":
            break
    assert page.evaluate(focused) == "launcher"
    assert shadow_eval(page, "return getComputedStyle(root.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    page.locator(".reply").first.wait_for()
    assert page.evaluate(focused) == "ca-input"
    page.keyboard.type("how many sessions will I need?")
    page.keyboard.press("Enter")
    assert wait_for_bot_messages(page, 3)[1:] == [DISCLAIMER, answers["number_of_sessions"]]
    # The answer is announced: it lands in the polite live region, "Helpful?" under it.
    assert shadow_eval(
        page,
        "const log = root.querySelector('[role=log]'); "
        "return [log.getAttribute('aria-live'), log.lastElementChild.textContent]",
    ) == [
        "polite",
        "Assistant: " + answers["number_of_sessions"] + "Helpful?",
    ]
    page.keyboard.press("Escape")
    assert not page.locator(".panel").is_visible()
    assert page.evaluate(focused) == "launcher"
    page.keyboard.press("Enter")
    assert page.evaluate(focused) == "ca-input"
    order = []
    for _ in range(5):  # backwards from the text box: the answer's votes, the conversation, Close, Start over
        page.keyboard.press("Shift+Tab")
        order.append(page.evaluate(focused))
    assert order == ["vote down", "vote", "log", "close", "restart"]
    page.keyboard.press("Enter")  # start over
    page.locator(".reply").first.wait_for()
    page.keyboard.press("Shift+Tab")  # from the text box to the last quick reply
    assert page.evaluate(focused) == "reply"
    assert shadow_eval(page, "return getComputedStyle(root.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    assert any("What name" in text for text in wait_for_bot_messages(page, 4)[1:])
    assert page.evaluate(focused) == "ca-input"  # after a quick reply, typing goes on


@pytest.mark.parametrize("width, height", [(375, 667), (1280, 800), (320, 568)])
def test_the_panel_fits_the_screen_and_nothing_overflows(browser, website, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    watch = Watch(page)
    page.goto(demo_url(website.assistant))
    open_widget(page)
    ask(page, "Pneumonoultramicroscopicsilicovolcanoconiosis" * 4)
    ask(page, "what is dry needling?")
    panel = page.locator(".panel").bounding_box()
    assert panel["x"] >= 0 and panel["y"] >= 0
    assert panel["x"] + panel["width"] <= width and panel["y"] + panel["height"] <= height
    overflowing = shadow_eval(
        page,
        """
        const panel = root.querySelector('.panel').getBoundingClientRect();
        const out = [];
        for (const el of root.querySelectorAll('.panel *')) {
          const box = el.getBoundingClientRect();
          if (box.width && (box.left < panel.left - 0.5 || box.right > panel.right + 0.5)) out.push(el.className);
        }
        const log = root.querySelector('.log');
        if (log.scrollWidth > log.clientWidth) out.push('log scrolls sideways');
        return out;""",
    )
    assert overflowing == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"widget-{width}x{height}.png"))
    watch.assert_clean()
    context.close()


class SampleSite(BaseHTTPRequestHandler):
    """A clinic's own site on another origin, embedding the widget with every data- option."""

    bot = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/site.css":
            body, kind = b":root { --clinic-assistant-font: monospace; }", "text/css"
        elif self.path in ("/", "/other"):
            body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/site.css"><title>Sample clinic</title></head>
<body><h1>Sample clinic page {self.path}</h1><a href="/other">Another page</a>
<script src="{self.bot}/webhooks/website/widget.js" defer data-title="Ask Example Clinic"
 data-primary-color="rgb(170, 0, 51)" data-corner="bottom-left" data-open="true"
 data-greeting="Hello from the sample site!"></script></body></html>""".encode()
            kind = "text/html"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind + "; charset=utf-8")
        # A strict policy naming only the site itself and the assistant's host.
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'none'; script-src {self.bot}; style-src 'self' {self.bot}; connect-src {self.bot}; "
            "img-src data:; base-uri 'none'",
        )
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def sample_site(website) -> Iterator[str]:
    handler = type("Handler", (SampleSite,), {"bot": website.assistant.base_url})
    server = ThreadingHTTPServer(("127.0.0.1", website.site_port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield website.site_origin
    server.shutdown()
    server.server_close()


def test_embedded_on_another_site_with_data_options_and_across_pages(page, sample_site, answers):
    page.goto(sample_site + "/")
    page.locator(".panel").wait_for()  # data-open="true": open on the first visit
    assert page.locator(".panel .title").text_content() == "Ask Example Clinic"
    assert bot_texts(page) == ["Hello from the sample site!"]
    assert page.locator(".head").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(170, 0, 51)"
    assert "monospace" in page.locator(".panel .title").evaluate("e => getComputedStyle(e).fontFamily")
    assert page.locator(".panel").bounding_box()["x"] < 40  # bottom-left corner
    assert ask(page, "is it the same as acupuncture?") == [DISCLAIMER, answers["vs_acupuncture"]]
    page.goto(sample_site + "/other")  # on a phone the open panel covers the page's own links
    page.locator(".msg").nth(3).wait_for()
    assert all_texts(page)[1:] == ["is it the same as acupuncture?", DISCLAIMER, answers["vs_acupuncture"]]
    page.locator(".close").click()
    page.reload()
    page.locator(".launcher").wait_for()
    assert not page.locator(".panel").is_visible()  # closed by the visitor: stays closed


@pytest.fixture
def own_assistant(tmp_path) -> Iterator:
    """Servers this test alone may stop."""
    running = start_assistant(MODEL_PATH, tmp_path)
    yield running
    running.stop()


def test_a_stopped_server_shows_an_error_keeps_the_text_and_retries(page, own_assistant, answers):
    page.goto(demo_url(own_assistant))
    open_widget(page)
    assert ask(page, "does dry needling hurt?") == [DISCLAIMER, answers["does_it_hurt"]]
    own_assistant.stop_rasa()
    typed = f"can I come on Tuesday? {uuid.uuid4().hex[:6]}"
    page.locator("#ca-input").fill(typed)
    page.locator("#ca-input").press("Enter")
    status = page.locator(".status")
    status.wait_for()
    assert "cannot be reached" in status.text_content()
    assert page.locator("#ca-input").input_value() == typed  # not lost
    assert typed not in all_texts(page)  # and not shown as if sent
    own_assistant.start_rasa()
    page.locator(".retry").click()
    # The conversation store is persistent: the restarted server carries on (no second disclaimer).
    wait_for_bot_messages(page, 4)
    assert all_texts(page)[4] == typed
    assert page.locator("#ca-input").input_value() == ""
    assert not status.is_visible()
