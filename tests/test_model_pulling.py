"""A Rasa server given ``models:`` starts from its own model file even when the console that
serves the published model is down, names that model as the console would, and keeps it while the
console does not answer (runtime/model_pulling.py). Fetching and swapping a
published model through the real processes: test_console_publish_server.py."""

from __future__ import annotations

import asyncio
import logging

import pytest

from clinic.published_model import fingerprint
from runtime import model_pulling
from tests.conftest import MODEL_PATH
from tools.servers import free_port

pytestmark = pytest.mark.model


def test_the_local_file_is_loaded_first_and_kept_while_the_console_is_down(caplog):
    import rasa.core.agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    original = rasa.core.agent.load_agent
    model_pulling.install()
    server = EndpointConfig(
        url=f"http://127.0.0.1:{free_port()}/models/clinic-assistant.tar.gz", wait_time_between_pulls=1
    )

    async def run():
        agent = await rasa.core.agent.load_agent(model_path=str(MODEL_PATH), endpoints=AvailableEndpoints(model=server))
        await asyncio.sleep(3.5)
        processor = agent.processor
        await model_pulling.stop_following()
        return agent, processor

    try:
        with caplog.at_level(logging.INFO, logger=model_pulling.__name__):
            agent, processor = asyncio.run(run())
    finally:
        rasa.core.agent.load_agent = original
        model_pulling._original_load_agent = None
    assert agent.is_ready() and agent.processor is processor
    assert agent.fingerprint == fingerprint(MODEL_PATH)
    assert agent.model_server is server
    assert not [r for r in caplog.records if "Now answering" in r.getMessage()]
