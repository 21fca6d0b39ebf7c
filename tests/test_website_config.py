"""The website channel's plain parts: origins, its settings, and what it passes to the widget."""

from __future__ import annotations

import pytest
import yaml

from clinic import settings
from clinic.profile import ClinicProfileError, parse_profile
from tests.conftest import ROOT
from website.channel import widget_messages
from website.origins import OriginPolicy, normalise_origin

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "raw, origin",
    [
        ("https://www.clinic.example", "https://www.clinic.example"),
        ("HTTPS://WWW.Clinic.Example/", "https://www.clinic.example"),
        ("https://clinic.example:443", "https://clinic.example"),
        ("http://clinic.example:80", "http://clinic.example"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_origins_are_normalised(raw, origin):
    assert normalise_origin(raw) == origin


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("*", "wildcards"),
        ("https://*.clinic.example", "wildcards"),
        ("www.clinic.example", "http(s)://"),
        ("ftp://clinic.example", "http(s)://"),
        ("https://clinic.example/chat", "no path"),
        ("https://clinic.example?x=1", "no path"),
        ("https://user@clinic.example", "no path"),
        ("https://clinic.example:port", "port"),
        ("null", "http(s)://"),
    ],
)
def test_bad_origins_are_refused_with_a_reason(raw, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        normalise_origin(raw)


def test_policy_permits_listed_and_own_origins_only():
    policy = OriginPolicy.of(["https://www.clinic.example"])
    assert policy.permits("https://www.clinic.example", "http://bot.example")
    assert policy.permits("https://WWW.clinic.example:443", "http://bot.example")
    assert policy.permits("http://bot.example", "http://bot.example")  # the demo page, same origin
    assert policy.permits(None, "http://bot.example")  # no Origin: not a browser script
    assert not policy.permits("https://clinic.example", "http://bot.example")
    assert not policy.permits("http://www.clinic.example", "http://bot.example")
    assert not policy.permits("null", "http://bot.example")
    assert not policy.permits("https://www.clinic.example.evil.example", None)


def test_cors_headers_echo_the_origin_never_a_wildcard():
    policy = OriginPolicy.of([])
    assert policy.headers(None) == {"Vary": "Origin"}
    simple = policy.headers("https://a.example")
    assert simple["Access-Control-Allow-Origin"] == "https://a.example"
    assert "Access-Control-Allow-Methods" not in simple
    preflight = policy.headers("https://a.example", preflight=True)
    assert preflight["Access-Control-Allow-Headers"] == "Content-Type"
    assert int(preflight["Access-Control-Max-Age"]) > 0


def test_widget_messages_keep_text_and_buttons_only():
    collected = [
        {
            "recipient_id": "s",
            "text": "Hello <b>there</b>",
            "buttons": [{"title": "Yes", "payload": "/affirm", "type": "postback"}],
        },
        {"recipient_id": "s", "image": "https://x.example/i.png"},
        {"recipient_id": "s", "text": "", "buttons": [{"title": "", "payload": "/x"}, "junk", {"title": "No"}]},
        {"recipient_id": "s", "custom": {"html": "<script>"}},
    ]
    assert widget_messages(collected) == [
        {"recipient_id": "s", "text": "Hello <b>there</b>", "buttons": [{"title": "Yes", "payload": "/affirm"}]},
    ]


def profile_with(website: dict) -> dict:
    raw = yaml.safe_load((ROOT / "clinic.yml").read_text())
    raw["website"] = website
    return raw


def test_the_shipped_profile_has_a_website_section():
    website = parse_profile(yaml.safe_load((ROOT / "clinic.yml").read_text())).website
    assert website.allowed_origins == ["https://www.clinic.example"]
    assert 1 <= len(website.quick_replies) <= 6
    assert website.max_message_length == 2000


@pytest.mark.parametrize(
    "website, field",
    [
        ({"allowed_origins": ["*"]}, "website.allowed_origins.0"),
        ({"allowed_origins": ["https://clinic.example/page"]}, "website.allowed_origins.0"),
        ({"quick_replies": [{"title": "x", "payload": "/y"}] * 7}, "website.quick_replies"),
        ({"quick_replies": [{"title": "", "payload": "/y"}]}, "website.quick_replies.0.title"),
        ({"colour": "red"}, "website.colour"),
        ({"max_message_length": 5}, "website.max_message_length"),
    ],
)
def test_a_bad_website_section_names_the_field(website, field):
    with pytest.raises(ClinicProfileError, match=field.replace(".", r"\.")):
        parse_profile(profile_with(website))


def test_the_website_section_is_optional():
    raw = profile_with({})
    del raw["website"]
    website = parse_profile(raw).website
    assert website.allowed_origins == [] and website.max_message_length == 2000


def test_environment_overrides_for_the_channel():
    assert settings.website_allowed_origins({}) is None
    assert settings.website_allowed_origins({"WEBSITE_ALLOWED_ORIGINS": "https://a.example, https://b.example"}) == [
        "https://a.example",
        "https://b.example",
    ]
    assert settings.website_allowed_origins({"WEBSITE_ALLOWED_ORIGINS": ""}) == []
    assert settings.website_max_message_length({}) is None
    assert settings.website_max_message_length({"WEBSITE_MAX_MESSAGE_LENGTH": "500"}) == 500
    with pytest.raises(settings.SettingsError, match="WEBSITE_MAX_MESSAGE_LENGTH"):
        settings.website_max_message_length({"WEBSITE_MAX_MESSAGE_LENGTH": "lots"})
