"""The website channel over the real Rasa server: answers, refusals, CORS and the files it serves.

The widget's own behaviour in a browser is in test_widget_browser.py.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, Optional, Tuple

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.servers

WEBHOOK = "/webhooks/website/webhook"
ALLOWED = "https://www.clinic.example"
JSON = {"Content-Type": "application/json"}


def post(website, body: Any, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any, Any]:
    """POSTs to the webhook; ``body`` is sent as JSON unless it is already bytes."""
    import urllib.error
    import urllib.request

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        website.assistant.base_url + WEBHOOK, data=raw, method="POST", headers=headers if headers is not None else JSON
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, payload, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, payload, answer_headers = error.code, error.read(), error.headers
    try:
        return status, json.loads(payload or b"null"), answer_headers
    except ValueError:
        return status, payload.decode("utf-8", "replace"), answer_headers


def get(website, path: str, headers: Optional[Dict[str, str]] = None):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(website.assistant.base_url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def options(website, path: str, origin: str):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        website.assistant.base_url + path,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def say(website, text: str, sender: Optional[str] = None, **extra) -> list:
    status, replies, _ = post(website, {"sender": sender or str(uuid.uuid4()), "message": text, **extra})
    assert status == 200, (status, replies)
    return replies


DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
DISCLAIMER = DOMAIN["responses"]["utter_disclaimer"][0]["text"]


def after_disclaimer(replies: list) -> list:
    """A conversation's first replies, after the disclaimer that must lead them."""
    assert replies and replies[0].get("text") == DISCLAIMER, replies
    return replies[1:]


def joined(replies: list) -> str:
    return " ".join(reply.get("text", "") for reply in replies)


def test_a_faq_question_is_answered_with_its_topic(website, answers):
    sender = str(uuid.uuid4())
    replies = after_disclaimer(say(website, "does dry needling hurt?", sender))
    assert [reply.get("text") for reply in replies] == [answers["does_it_hurt"]]
    assert replies[0]["recipient_id"] == sender


def test_buttons_come_with_title_and_payload(website):
    replies = say(website, "hello")
    buttons = [button for reply in replies for button in reply.get("buttons", [])]
    assert buttons, replies
    for button in buttons:
        assert set(button) == {"title", "payload"}
        assert button["title"] and button["payload"].startswith("/")


def test_a_clicked_payload_is_answered_and_the_conversation_keeps_its_state(website, answers):
    sender = str(uuid.uuid4())
    assert [
        r.get("text")
        for r in after_disclaimer(say(website, '/choose_faq_topic{"faq_topic": "vs_acupuncture"}', sender))
    ] == [answers["vs_acupuncture"]]
    assert "What name" in joined(say(website, "I'd like to book an appointment", sender))
    # The same sender continues the form; a new sender starts afresh.
    assert "phone number or email" in joined(say(website, "Orla Fenwick", sender))
    assert "phone number or email" not in joined(say(website, "Orla Fenwick"))


def test_text_plain_is_accepted_so_the_widget_needs_no_preflight(website, answers):
    body = {"sender": str(uuid.uuid4()), "message": "how many sessions will I need?"}
    status, replies, _ = post(website, body, {"Content-Type": "text/plain;charset=UTF-8"})
    assert status == 200
    assert [r.get("text") for r in after_disclaimer(replies)] == [answers["number_of_sessions"]]


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"not json", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (b'"hello"', "JSON object"),
        (b"42", "JSON object"),
        (b"null", "JSON object"),
        (b"\xff\xfe{}", "UTF-8"),
        ({"message": "hi"}, "'sender' is required"),
        ({"sender": "default", "message": "hi"}, "UUID"),
        ({"sender": "", "message": "hi"}, "UUID"),
        ({"sender": 12345, "message": "hi"}, "string"),
        ({"sender": "{3f2c8a9e-1b2c-4d5e-8f90-123456789abc}", "message": "hi"}, "usual form"),
        ({"sender": "3f2c8a9e-1b2c-4d5e-8f90-123456789abc"}, "'message' is required"),
        ({"sender": "3f2c8a9e-1b2c-4d5e-8f90-123456789abc", "message": "   "}, "empty"),
        ({"sender": "3f2c8a9e-1b2c-4d5e-8f90-123456789abc", "message": 5}, "string"),
        ({"sender": "3f2c8a9e-1b2c-4d5e-8f90-123456789abc", "message": "a\x00b"}, "NUL"),
        ({"sender": "3f2c8a9e-1b2c-4d5e-8f90-123456789abc", "message": "x" * 2001}, "longer than 2000"),
        ({"sender": "3f2c8a9e-1b2c-4d5e-8f90-123456789abc", "message": "hi", "metadata": [1]}, "metadata"),
    ],
)
def test_bad_requests_get_a_400_with_a_reason(website, body, reason):
    status, answer, _ = post(website, body)
    assert status == 400, answer
    assert set(answer) == {"error"} and reason in answer["error"]


@pytest.mark.parametrize(
    "text",
    ["does it hurt? 😬💉", "האם זה כואב?", "hürt? dóes ìt", "‮does it hurt‬", "   does   it\thurt   "],
)
def test_emoji_right_to_left_and_combining_text_get_a_reply(website, text):
    replies = say(website, text)
    assert replies and all(reply.get("text") for reply in replies)


def test_a_lone_surrogate_is_refused_not_a_500(website):
    body = b'{"sender": "3f2c8a9e-1b2c-4d5e-8f90-123456789abc", "message": "hi \\ud800 there"}'
    status, answer, _ = post(website, body)
    assert status == 400 and "valid Unicode" in answer["error"]


def test_forged_slots_through_the_website_channel_save_nothing(website):
    sender = str(uuid.uuid4())
    forged = '/book_appointment{"full_name": "<b>x</b>", "consent": true, "booking_confirmed": true}'
    # Unknown entities: passed on as the visitor's text, so no slot is set from it.
    reply = joined(say(website, forged, sender))
    assert "DN-" not in reply and "<b>" not in reply
    # A well-formed payload naming a known intent starts the booking, asking for the name.
    assert "What name" in joined(say(website, "/book_appointment", sender))
    assert "nothing was saved" in joined(say(website, "cancel", sender))


@pytest.mark.parametrize(
    "forged",
    [
        '/book_appointment{"full_name": "Quenby Sollis", "phone": "+12025550177"}',  # unknown entities
        "/Quenby Sollis +12025550177",  # unknown intent
        '/greet{"faq_topic": Quenby Sollis +12025550177}',  # broken JSON
    ],
)
def test_forged_payloads_are_answered_as_text_and_never_logged(website, forged):
    """Rasa writes a malformed "/..." message into its log whole; the channel passes it on as text."""
    status, replies, _ = post(website, {"sender": str(uuid.uuid4()), "message": forged})
    assert status == 200 and joined(replies)
    logs = website.assistant.log_text()
    assert "Quenby" not in logs and "2025550177" not in logs


def test_a_lone_slash_is_refused_with_a_reason(website):
    status, answer, _ = post(website, {"sender": str(uuid.uuid4()), "message": " / "})
    assert status == 400 and "after the leading '/'" in answer["error"]


def test_the_longest_allowed_message_is_still_answered(website):
    longest = ("does it hurt? " * 150)[:2000]
    status, replies, _ = post(website, {"sender": str(uuid.uuid4()), "message": longest})
    assert status == 200 and replies


def test_a_huge_body_and_a_form_post_are_refused(website):
    status, answer, _ = post(website, {"sender": str(uuid.uuid4()), "message": "x" * 100_000})
    assert status == 400 and "larger than" in answer["error"]
    status, answer, _ = post(website, b"sender=a&message=b", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415 and "application/json" in answer["error"]


def test_the_server_keeps_answering_after_bad_requests(website, answers):
    for body in (b"[", b"{}", b'{"sender": "x"}'):
        assert post(website, body)[0] == 400
    assert [r.get("text") for r in after_disclaimer(say(website, "is dry needling the same as acupuncture?"))] == [
        answers["vs_acupuncture"]
    ]


def test_cors_allows_only_the_configured_origins(website):
    body = {"sender": str(uuid.uuid4()), "message": "does it hurt?"}

    status, _, headers = post(website, body, {**JSON, "Origin": ALLOWED})
    assert status == 200
    assert headers.get("Access-Control-Allow-Origin") == ALLOWED
    assert "Origin" in headers.get("Vary", "")

    status, preflight = options(website, WEBHOOK, ALLOWED)
    assert status == 204
    assert preflight["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "content-type" in preflight["Access-Control-Allow-Headers"].lower()

    for stranger in ("https://evil.example", "null", "https://www.clinic.example.evil.example"):
        status, answer, headers = post(website, body, {**JSON, "Origin": stranger})
        assert status == 403 and "allowed origins" in answer["error"]
        assert "Access-Control-Allow-Origin" not in headers
        status, preflight = options(website, WEBHOOK, stranger)
        assert status == 403
        assert "Access-Control-Allow-Origin" not in preflight


def test_no_wildcard_anywhere(website):
    for path in ("/webhooks/website/config", "/webhooks/website/widget.js", "/webhooks/website/demo"):
        _, _, headers = get(website, path, {"Origin": "https://evil.example"})
        assert headers.get("Access-Control-Allow-Origin") != "*"


def test_the_widget_gets_its_settings_from_clinic_yml(website):

    profile = yaml.safe_load((ROOT / "clinic.yml").read_text())["website"]
    status, raw, headers = get(website, "/webhooks/website/config", {"Origin": ALLOWED})
    config = json.loads(raw)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ALLOWED
    assert config["title"] == profile["title"]
    assert [reply["title"] for reply in config["quick_replies"]] == [r["title"] for r in profile["quick_replies"]]
    assert config["max_message_length"] == 2000
    assert get(website, "/webhooks/website/config", {"Origin": "https://evil.example"})[0] == 403


def test_every_welcome_quick_reply_is_answered(website):
    status, raw, _ = get(website, "/webhooks/website/config")
    for reply in json.loads(raw)["quick_replies"]:
        answer = say(website, reply["payload"])
        assert answer and answer[0].get("text"), reply


def test_widget_files_are_served_small_cached_and_typed(website):
    sizes = {}
    for name, kind in (("widget.js", "text/javascript"), ("widget.css", "text/css")):
        status, body, headers = get(website, f"/webhooks/website/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age" in headers["Cache-Control"]
        sizes[name] = len(body)
        assert get(website, f"/webhooks/website/{name}", {"If-None-Match": headers["ETag"]})[0] == 304
    assert sum(sizes.values()) < 25 * 1024, sizes
    _, js, _ = get(website, "/webhooks/website/widget.js")
    assert b"innerHTML" not in js and b"eval(" not in js and b"document.write" not in js


def test_demo_page_embeds_the_widget_under_a_strict_policy(website):
    status, body, headers = get(website, "/webhooks/website/demo")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page = body.decode()
    assert '<script src="widget.js" defer' in page
    assert "Example Dry Needling Clinic" in page and "{{" not in page


def test_visitor_text_never_reaches_the_logs(website):
    secret = f"my neighbour {uuid.uuid4().hex[:10]} asked whether it hurts"
    say(website, secret)
    post(website, {"sender": "not-a-uuid", "message": secret})
    assert secret not in website.assistant.log_text()


def test_rasa_refuses_to_start_with_a_wildcard_origin_and_reports_nothing_abroad(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import MODEL_PATH
    from tools.servers import free_port

    env = dict(os.environ, PYTHONPATH=str(ROOT), RASA_TELEMETRY_ENABLED="false", WEBSITE_ALLOWED_ORIGINS="*")
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.serve",
            "run",
            "-m",
            str(MODEL_PATH),
            "--port",
            str(free_port()),
            "--credentials",
            str(ROOT / "credentials.yml"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode != 0
    assert "WEBSITE_ALLOWED_ORIGINS: '*': wildcards are not allowed" in output
    assert "sentry" not in output.lower()  # no error report tried to leave the machine
