"""Shared test fixtures and paths."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL_PATH = ROOT / "models" / "clinic-assistant.tar.gz"


# `make test-fast` sets FEWER_EXAMPLES: each property test tries a sixth of its generated
# examples there; `make test` tries them all.
def generated_examples(full: int) -> int:
    """How many generated examples a property test tries (``full`` unless FEWER_EXAMPLES is set)."""
    return max(25, full // 6) if os.environ.get("FEWER_EXAMPLES") else full


# The tiers (pyproject.toml): `make test-fast` runs the unit tier alone, `make test` every tier.
TIERS = ("unit", "model", "servers", "system")


def pytest_collection_modifyitems(config, items):
    """Refuses a test without exactly one tier, so `make test-fast` never silently skips or
    starts servers."""
    wrong = []
    for item in items:
        tiers = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if len(tiers) != 1:
            wrong.append(f"{item.nodeid}: {sorted(tiers) or 'no tier'}")
    if wrong:
        raise pytest.UsageError(
            "each test needs exactly one tier marker of " + ", ".join(TIERS) + ":\n" + "\n".join(wrong)
        )


if TYPE_CHECKING:
    from tools.servers import RunningAssistant


@pytest.fixture(scope="session")
def answers() -> Dict[str, str]:
    """Each FAQ topic's answer, by topic name, from data/faq/."""
    from clinic.topic_files import check_faq_dir

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
