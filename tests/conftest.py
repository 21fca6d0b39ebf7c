"""Shared test fixtures and paths."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL_PATH = ROOT / "models" / "clinic-assistant.tar.gz"

if TYPE_CHECKING:
    from tools.servers import RunningAssistant


@pytest.fixture(scope="session")
def answers() -> Dict[str, str]:
    """Each FAQ topic's answer, by topic name, from data/faq/."""
    from tools.faq_conventions import check_faq_dir

    topics, _ = check_faq_dir(ROOT / "data" / "faq")
    return {topic.name: topic.answers[0] for topic in topics}


@pytest.fixture(scope="session")
def parser():
    """The trained model's parse function, loaded once for every held-out test module."""
    from tools.evaluation import agent_parser

    if not MODEL_PATH.exists():
        pytest.fail("no trained model: run `make train` (make test does)")
    return agent_parser(MODEL_PATH)


@pytest.fixture(scope="module")
def clinic(request):
    """A real local HTTP server standing in for the clinic's booking endpoint, for one test module;
    it checks signatures with the module's ``SECRET``."""
    from tools.clinic_endpoint import ClinicEndpoint

    endpoint = ClinicEndpoint(request.module.SECRET).start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="session")
def root() -> Path:
    """The project's root folder."""
    return ROOT


@dataclass
class WebsiteServers:
    """The running assistant for the website tests, and the port kept for a sample clinic site."""

    assistant: "RunningAssistant"
    site_port: int

    @property
    def site_origin(self) -> str:
        return f"http://127.0.0.1:{self.site_port}"


@pytest.fixture(scope="session")
def website(tmp_path_factory) -> Iterator[WebsiteServers]:
    """One Rasa server and action server for the website channel and widget tests.

    Allowed origins: the example clinic's site and a local sample site the browser tests serve.
    """
    from tools.servers import free_port, start_assistant

    site_port = free_port()
    origins = f"https://www.clinic.example http://127.0.0.1:{site_port}"
    # The whole suite talks from 127.0.0.1: the per-address limit is lifted here (test_rate_limits.py
    # checks the limits on a server of its own).
    env = {"WEBSITE_ALLOWED_ORIGINS": origins, "WEBSITE_RATE_LIMIT_PER_ADDRESS": "off"}
    assistant = start_assistant(MODEL_PATH, tmp_path_factory.mktemp("website"), env=env)
    try:
        yield WebsiteServers(assistant, site_port)
    finally:
        assistant.stop()
