"""Rate limits on the website and REST channels: per conversation and per client address, 429 with Retry-After."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from clinic import settings
from tests.conftest import MODEL_PATH
from tools.servers import start_assistant
from website.ratelimit import Limit, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.unit
def test_limits_are_read_from_their_form():
    assert Limit.parse("30/60") == Limit(30, 60.0)
    assert Limit.parse(" 5/0.5 ") == Limit(5, 0.5)
    assert Limit.parse("off") is None and Limit.parse("0") is None
    for bad in ("30", "x/60", "0/60", "3/0", "3/-1"):
        with pytest.raises(ValueError, match="30/60|at least 1"):
            Limit.parse(bad)


@pytest.mark.unit
def test_the_variables_are_named_when_wrong():
    assert settings.website_rate_limits({}) == (Limit(30, 60.0), Limit(120, 60.0))
    assert settings.website_rate_limits({"WEBSITE_RATE_LIMIT_PER_SENDER": "off"})[0] is None
    with pytest.raises(settings.SettingsError, match="WEBSITE_RATE_LIMIT_PER_ADDRESS"):
        settings.website_rate_limits({"WEBSITE_RATE_LIMIT_PER_ADDRESS": "lots"})


@pytest.mark.unit
def test_a_sliding_window_per_key():
    clock = Clock()
    limiter = RateLimiter(Limit(3, 60), clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    assert limiter.hit("a") == 60
    assert limiter.hit("b") is None  # another key has its own window
    clock.now += 20.5
    assert limiter.hit("a") == 40  # the first hits leave the window in 39.5 s: wait 40
    clock.now += 39.5
    assert [limiter.hit("a") for _ in range(4)] == [None, None, None, 60]  # the window has moved on


@pytest.mark.unit
def test_memory_is_bounded_by_the_number_of_keys():
    limiter = RateLimiter(Limit(1, 60), max_keys=100, clock=Clock())
    for index in range(1000):
        limiter.hit(f"sender-{index}")
    assert len(limiter) == 100
    assert limiter.hit("sender-999") == 60  # the most recent keys are kept


def post(base_url: str, sender: str, message: str = "does it hurt?"):
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(
        base_url + "/webhooks/website/webhook", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def rest(running, sender: str):
    body = json.dumps({"sender": sender, "message": "does it hurt?"}).encode()
    request = urllib.request.Request(
        running.base_url + "/webhooks/rest/webhook",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


@pytest.mark.unit
def test_the_rest_limits_and_the_loopback_exemption_are_read():
    assert settings.rest_rate_limits({}) == (Limit(30, 60.0), Limit(120, 60.0))
    assert settings.rest_limits_loopback({}) is False
    assert settings.rest_limits_loopback({"REST_RATE_LIMIT_LOOPBACK": "limited"}) is True
    with pytest.raises(settings.SettingsError, match="REST_RATE_LIMIT_LOOPBACK"):
        settings.rest_limits_loopback({"REST_RATE_LIMIT_LOOPBACK": "yes"})
    with pytest.raises(settings.SettingsError, match="REST_RATE_LIMIT_PER_SENDER"):
        settings.rest_rate_limits({"REST_RATE_LIMIT_PER_SENDER": "many"})


@pytest.mark.servers
def test_the_channel_answers_429_with_retry_after(tmp_path):
    env = {
        "WEBSITE_RATE_LIMIT_PER_SENDER": "3/60",
        "WEBSITE_RATE_LIMIT_PER_ADDRESS": "5/60",
        "REST_RATE_LIMIT_PER_SENDER": "2/60",
        "REST_RATE_LIMIT_PER_ADDRESS": "6/60",
        "REST_RATE_LIMIT_LOOPBACK": "limited",  # this test's client is on this machine
    }
    running = start_assistant(MODEL_PATH, tmp_path, env)
    try:
        first = str(uuid.uuid4())
        assert [post(running.base_url, first)[0] for _ in range(3)] == [200, 200, 200]
        status, answer, headers = post(running.base_url, first)
        assert status == 429 and "too many messages" in answer["error"]
        assert 1 <= int(headers["Retry-After"]) <= 60
        # Every request counts against the address, the refused one too: a second conversation from
        # the same address gets the fifth and last.
        second = str(uuid.uuid4())
        assert post(running.base_url, second)[0] == 200
        status, answer, headers = post(running.base_url, str(uuid.uuid4()))
        assert status == 429 and int(headers["Retry-After"]) >= 1  # the address's five are used up
        # The server goes on serving everything else: the REST channel counts on its own.
        assert running.say(str(uuid.uuid4()), "does it hurt?")  # REST: 1 from this address
        first, second = "crm-1", "crm-2"
        assert [rest(running, first)[0] for _ in range(3)] == [200, 200, 429]  # 4
        assert [rest(running, second)[0] for _ in range(2)] == [200, 200]  # 6
        status, answer, headers = rest(running, "crm-3")
        assert status == 429 and "too many messages" in answer["error"] and int(headers["Retry-After"]) >= 1
    finally:
        running.stop()
