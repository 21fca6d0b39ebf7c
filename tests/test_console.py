"""The staff console's app (console/app.py) in this process, through its ASGI interface, over a real
SQLite database: the pages, the session cookie, the CSRF tokens, the wait after failed logins,
the security headers. The console's clock is a moment the tests move, so timeouts and waits are
walked through without sleeping.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from clinic import settings
from tests.conftest import ROOT
from tests.console_asgi import HOST, PASSWORD, make_console, stop_console

pytestmark = pytest.mark.unit


@pytest.fixture
def console(tmp_path):
    made = make_console(tmp_path)
    yield made
    stop_console(made)
    made.loop.close()


def test_every_page_but_login_sends_a_visitor_without_a_session_to_login(console):
    browser = console.browser()
    for method, path in [("GET", "/"), ("GET", "/inbox"), ("GET", "/nowhere"), ("POST", "/logout")]:
        reply = browser.request(method, path)
        assert (reply.status, reply.header("location")) == (303, "/login"), path
    assert browser.get("/login").status == 200


def test_the_login_form_has_labelled_fields_a_button_and_a_csrf_token_in_a_cookie_of_its_own(console):
    browser = console.browser()
    page = browser.get("/login")
    assert '<label for="username">Username</label>' in page.body
    assert '<label for="password">Password</label>' in page.body
    assert '<input id="password" name="password" type="password"' in page.body
    assert '<button type="submit">Log in</button>' in page.body
    cookie = page.cookies()["console_login"]
    assert cookie == f"console_login={page.csrf_token}; Path=/; HttpOnly; SameSite=Strict"
    assert browser.get("/login").csrf_token == page.csrf_token  # kept while the cookie lives
    assert console.browser().get("/login").csrf_token != page.csrf_token


def test_logging_in_opens_the_inbox_with_a_session_cookie(console):
    browser = console.browser()
    reply = browser.log_in("Anna")
    assert (reply.status, reply.header("location")) == (303, "/inbox")
    session = reply.cookies()["console_session"]
    assert re.fullmatch(r"console_session=[\w-]{43}; Path=/; HttpOnly; SameSite=Strict", session), session
    assert "Max-Age=0" in reply.cookies()["console_login"]  # the pre-session token is done with
    inbox = browser.get("/inbox")
    assert inbox.status == 200
    assert "Signed in as <strong>anna</strong>" in inbox.body
    assert '<button type="submit">Log out</button>' in inbox.body
    assert browser.get("/").header("location") == "/inbox"
    assert browser.get("/login").header("location") == "/inbox"
    assert console.actions() == [("anna", "login", "127.0.0.1")]


def test_a_login_post_without_its_csrf_token_is_refused(console):
    browser = console.browser()
    token = browser.get("/login").csrf_token
    for form in (
        {"username": "anna", "password": PASSWORD},
        {"csrf_token": "x" + token[1:], "username": "anna", "password": PASSWORD},
        {"csrf_token": "", "username": "anna", "password": PASSWORD},
    ):
        reply = browser.post("/login", form)
        assert reply.status == 403
        assert "security token was missing or wrong" in reply.body
    without_cookie = console.browser().post("/login", {"csrf_token": token, "username": "anna", "password": PASSWORD})
    assert without_cookie.status == 403
    assert "console_session" not in browser.cookies and console.actions() == []


def test_log_out_needs_the_sessions_csrf_token_then_ends_the_session(console):
    browser = console.browser()
    browser.log_in("anna")
    token = browser.get("/inbox").csrf_token
    other = console.browser()
    other.log_in("anna")
    for form in ({}, {"csrf_token": other.get("/inbox").csrf_token}):  # none, or another session's
        reply = browser.post("/logout", form)
        assert reply.status == 403 and "did not come from your session" in reply.body
    assert browser.get("/inbox").status == 200
    reply = browser.post("/logout", {"csrf_token": token})
    assert (reply.status, reply.header("location")) == (303, "/login")
    assert "console_session" not in browser.cookies
    assert browser.get("/inbox").header("location") == "/login"
    assert other.get("/inbox").status == 200  # the other session goes on
    assert [action for _, action, _ in console.actions()] == ["login", "login", "logout"]


def test_a_form_sent_from_another_site_is_refused_even_with_a_token(console):
    browser = console.browser()
    browser.log_in("anna")
    token = browser.get("/inbox").csrf_token
    reply = browser.post("/logout", {"csrf_token": token}, headers={"origin": "https://evil.example"})
    assert reply.status == 403 and "another site" in reply.body
    assert browser.post("/logout", {"csrf_token": token}, headers={"origin": f"http://{HOST}"}).status == 303


def test_five_wrong_passwords_then_even_the_right_one_waits_thirty_seconds(console):
    browser = console.browser()
    for attempt in range(1, 6):
        reply = browser.log_in("anna", "wrong password!")
        assert reply.status == 401 and "Wrong username or password." in reply.body
        assert ("Too many failed logins" in reply.body) == (attempt == 5)
        console.advance(seconds=1)
    refused = browser.log_in("anna")
    assert refused.status == 429
    assert refused.header("retry-after") == "29"  # the fifth failure was at 15:00:04, a second ago
    assert "Try again after 15:00:34 UTC (in 29 seconds)." in refused.body
    assert "console_session" not in browser.cookies
    console.advance(seconds=29)
    assert browser.log_in("anna").header("location") == "/inbox"
    actions = [action for _, action, _ in console.actions()]
    assert actions == ["login-failed"] * 5 + ["login-refused", "login"]


def test_the_wait_counts_per_address_for_names_that_are_no_ones(console):
    at_home = {"x-forwarded-for": "203.0.113.7"}  # as nginx on this machine forwards it
    for number in range(5):
        console.browser().log_in(f"guess{number}", "wrong password!", headers=at_home)
    assert console.browser().log_in("anna", headers=at_home).status == 429
    assert console.browser().log_in("anna", headers={"x-forwarded-for": "198.51.100.2"}).status == 303
    assert {actor for actor, action, _ in console.actions() if action == "login-failed"} == {"(unknown user)"}
    assert {address for *_, address in console.actions()} == {"203.0.113.7", "198.51.100.2"}


def test_forwarded_headers_from_a_peer_off_this_machine_are_ignored(console):
    for number in range(5):
        console.browser(peer="192.0.2.50").log_in(
            f"guess{number}", "wrong password!", headers={"x-forwarded-for": f"198.51.100.{number}"}
        )
    assert console.browser(peer="192.0.2.50").log_in("anna").status == 429
    assert {address for *_, address in console.actions()} == {"192.0.2.50"}


def test_cookies_are_secure_with_the_host_prefix_behind_https(console, tmp_path):
    https = {"x-forwarded-proto": "https"}
    browser = console.browser()
    assert "Secure" in browser.get("/login", headers=https).cookies()["__Host-console_login"]
    session = browser.log_in("anna", headers=https).cookies()["__Host-console_session"]
    assert session.endswith("; Path=/; HttpOnly; SameSite=Strict; Secure")
    assert browser.get("/inbox", headers=https).status == 200
    assert browser.get("/inbox").status == 303  # the plain-HTTP cookie name carries no session
    # A peer off this machine cannot claim HTTPS; CONSOLE_SECURE_COOKIES=1 always can.
    assert "console_login" in console.browser(peer="192.0.2.50").get("/login", headers=https).cookies()
    (tmp_path / "secure").mkdir()
    secure = make_console(tmp_path / "secure", secure_cookies=True)
    assert "Secure" in secure.browser().get("/login").cookies()["__Host-console_login"]


def test_a_session_idle_for_thirty_minutes_ends(console):
    browser = console.browser()
    browser.log_in("anna")
    console.advance(minutes=29)
    assert browser.get("/inbox").status == 200
    console.advance(minutes=30, seconds=1)
    reply = browser.get("/inbox")
    assert reply.header("location") == "/login"
    assert "Max-Age=0" in reply.cookies()["console_session"]  # the dead cookie is cleared


def test_removing_a_user_ends_their_session_at_once(console):
    browser = console.browser()
    browser.log_in("anna")
    console.accounts.remove_user("anna")
    assert browser.get("/inbox").header("location") == "/login"


def test_security_headers_on_every_response_and_pages_are_never_cached(console):
    browser = console.browser()
    replies = [browser.get("/inbox"), browser.get("/login"), browser.post("/login", {})]
    browser.log_in("anna")
    replies += [browser.get("/inbox"), browser.get("/nowhere")]
    assert [reply.status for reply in replies] == [303, 200, 403, 200, 404]
    for reply in replies:
        assert reply.header("content-security-policy").startswith("default-src 'self';")
        assert reply.header("x-frame-options") == "DENY"
        assert reply.header("x-content-type-options") == "nosniff"
        assert reply.header("cache-control") == "no-store"
    stylesheet = browser.get("/static/console.css")
    assert stylesheet.status == 200 and stylesheet.header("cache-control") != "no-store"
    for reply in replies:
        assert "<script" not in reply.body and " style=" not in reply.body


def test_what_was_typed_is_shown_as_text(console):
    browser = console.browser()
    reply = browser.log_in("<script>alert(1)</script>", "wrong password!")
    assert reply.status == 401
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in reply.body
    assert "<script>" not in reply.body
    assert "Example &lt;Clinic&gt;" in reply.body


def test_an_empty_form_is_asked_again_without_counting_a_failure(console):
    browser = console.browser()
    for _ in range(6):
        token = browser.get("/login").csrf_token
        reply = browser.post("/login", {"csrf_token": token, "username": "anna", "password": ""})
        assert reply.status == 400 and "Enter your username and your password." in reply.body
    assert browser.log_in("anna").status == 303


def test_the_consoles_settings_and_their_defaults():
    assert (settings.console_host({}), settings.console_port({})) == ("127.0.0.1", 5056)
    assert settings.console_secure_cookies({}) is False
    assert settings.console_secure_cookies({"CONSOLE_SECURE_COOKIES": "1"}) is True
    assert settings.console_session_times({}) == (timedelta(minutes=30), timedelta(hours=12))
    assert settings.console_session_times({"CONSOLE_IDLE_MINUTES": "5", "CONSOLE_SESSION_HOURS": "2"}) == (
        timedelta(minutes=5),
        timedelta(hours=2),
    )
    for env, name in (
        ({"CONSOLE_SECURE_COOKIES": "yes"}, "CONSOLE_SECURE_COOKIES"),
        ({"CONSOLE_IDLE_MINUTES": "0"}, "CONSOLE_IDLE_MINUTES"),
        ({"CONSOLE_SESSION_HOURS": "soon"}, "CONSOLE_SESSION_HOURS"),
    ):
        with pytest.raises(settings.SettingsError, match=name):
            settings.console_secure_cookies(env)
            settings.console_session_times(env)


def test_a_console_on_a_network_address_needs_https_in_front():
    settings.check_console_exposure("127.0.0.1", secure_cookies=False)
    settings.check_console_exposure("0.0.0.0", secure_cookies=True)
    with pytest.raises(settings.SettingsError, match="CONSOLE_HOST=0.0.0.0 .* plain HTTP"):
        settings.check_console_exposure("0.0.0.0", secure_cookies=False)


def test_the_default_port_is_the_one_nginx_and_make_run_name():
    port = settings.console_port({})
    assert f"proxy_pass http://127.0.0.1:{port};" in (ROOT / "deploy" / "nginx" / "staff-console.conf").read_text()
    assert f"${{CONSOLE_PORT:-{port}}}" in (ROOT / "scripts" / "serve.sh").read_text()


def test_the_topic_files_the_console_changes_are_the_projects_unless_told(tmp_path):
    assert settings.console_data_dir({}) == ROOT / "data"
    (tmp_path / "copy" / "faq").mkdir(parents=True)
    assert settings.console_data_dir({"CONSOLE_DATA_DIR": str(tmp_path / "copy")}) == tmp_path / "copy"
    with pytest.raises(settings.SettingsError, match="CONSOLE_DATA_DIR=.* has no faq/ folder"):
        settings.console_data_dir({"CONSOLE_DATA_DIR": str(tmp_path)})


def test_nginx_passes_the_largest_body_the_console_takes():
    from console.app import MAX_BODY_BYTES

    conf = (ROOT / "deploy" / "nginx" / "staff-console.conf").read_text()
    assert f"client_max_body_size {MAX_BODY_BYTES // 1024}k;" in conf


def test_every_page_and_form_but_the_login_leads_a_visitor_without_a_session_to_login(tmp_path):
    console = make_console(tmp_path)
    try:
        anonymous = console.browser()
        examples = {"name": "needles", "publish_id": "1", "conversation": "a%3Ab"}
        routes = {(route.path, method) for route in console.app.router.routes for method in route.methods}
        checked = 0
        for path, method in sorted(routes):
            url = "/" + re.sub(r"<(\w+)(:[^>]*)?>", lambda m: examples[m.group(1)], path.strip("/"))
            if url.startswith(("/login", "/static/")) or url == "/models/clinic-assistant.tar.gz":
                continue
            reply = anonymous.get(url) if method == "GET" else anonymous.post(url, {"csrf_token": "x"})
            assert (reply.status, reply.header("location")) == (303, "/login"), (method, url)
            checked += 1
        assert checked >= 30
        # The model is for the Rasa servers, with their token: no session, no redirect, no model.
        assert anonymous.get("/models/clinic-assistant.tar.gz").status == 401
    finally:
        stop_console(console)
