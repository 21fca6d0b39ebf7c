"""How long Publish takes to reach visitors (``make bench`` runs it; ``python -m tools.publish_timing``
runs it alone).

On loopback, as ``make run`` serves it: the staff console (its publisher warm, as it is once the
console has started), the action server and a Rasa server following the console's model. A staff
user edits one topic's answer in the console; the clock starts when Publish is pressed and stops
when the Rasa server gives the new answer through the REST channel. Meanwhile visitors ask
questions one after another through the REST channel; every request that fails or gets no reply
is counted.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from tools.console_http import Client
from tools.servers import (
    ROOT,
    free_port,
    model_server_section,
    start_assistant,
    start_console,
    wait_until,
)

TOPIC = "needles"
QUESTION = "what needles do you use"
ADDED = "Ask the team which needle size suits you best."
TARGET_SECONDS = 15.0
# Between one visitor's answer and the next question: a busy clinic site's steady trickle,
# leaving the publish the machine's cores as a real swap would find them.
PAUSE_SECONDS = 0.1
PASSWORD = secrets.token_urlsafe(18)


def texts(replies: Optional[list]) -> str:
    return " ".join(reply.get("text") or "" for reply in replies or [])


class Visitors(threading.Thread):
    """Visitors asking through the REST channel, one after another, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.sent, self.failed = url, 0, 0
        self.stopping = threading.Event()

    def run(self) -> None:
        from tools.bench import QUESTIONS, post_once

        while not self.stopping.is_set():
            replies = post_once(self.url, f"visitor-{uuid.uuid4()}", QUESTIONS[self.sent % len(QUESTIONS)], timeout=30)
            self.sent += 1
            self.failed += 0 if replies else 1
            self.stopping.wait(PAUSE_SECONDS)


def measure(model: Path, work: Path, repeats: int = 3) -> Dict[str, float]:
    """Publishes ``repeats`` edited answers; returns the median seconds from Publish to the new
    answer, the slowest, and the visitor requests sent and failed meanwhile."""
    from tools.bench import post_once

    shutil.copytree(ROOT / "data", work / "data")
    (work / "models").mkdir(parents=True)
    served = work / "models" / "clinic-assistant.tar.gz"
    shutil.copyfile(model, served)
    (work / "assistant").mkdir()
    token = secrets.token_hex(16)
    port = free_port()
    console = start_console(
        work,
        port=port,
        env={
            "CONSOLE_DATA_DIR": str(work / "data"),
            "CONSOLE_MODEL": str(served),
            "MODEL_SERVER_TOKEN": token,
            "TRACKER_DB_URL": f"sqlite:///{work / 'assistant' / 'tracker.db'}",
        },
    )
    assistant = None
    try:
        made = console.staff("add-user", "bench", "--password-stdin", stdin=PASSWORD + "\n")
        if made.returncode != 0:
            raise RuntimeError(made.stderr)
        assistant = start_assistant(served, work / "assistant", model_server=model_server_section(port, token))
        if not wait_until(lambda: "publisher ready" in console.log.read_text(), 300, "the publisher"):
            raise RuntimeError("the console's publisher did not start")
        client = Client(port)
        client.log_in("bench", PASSWORD)
        url = assistant.base_url + "/webhooks/rest/webhook"
        visitors = Visitors(url)
        visitors.start()
        seconds: List[float] = []
        try:
            for run in range(repeats):
                marker = f"{ADDED} ({run + 1})"
                status, _, page = client.edit_answer(
                    TOPIC, lambda answer, m=marker: f"{answer.split(ADDED)[0].strip()} {m}"
                )
                if status != 303:
                    raise RuntimeError(f"the answer was not saved ({status})")
                began = time.monotonic()
                client.press("/publish")
                while marker not in texts(post_once(url, f"check-{uuid.uuid4()}", QUESTION, timeout=30)):
                    if time.monotonic() - began > 300:
                        raise TimeoutError("the new answer never reached visitors")
                    time.sleep(0.1)
                seconds.append(time.monotonic() - began)
                if "Published." not in client.publish_ended():
                    raise RuntimeError("the publish did not end as published")
        finally:
            visitors.stopping.set()
            visitors.join(timeout=60)
        ordered = sorted(seconds)
        steps = step_seconds(work / "bookings.db")
        return {
            **{f"publish_step_{name}_seconds": value for name, value in steps.items()},
            "publish_seconds": ordered[len(ordered) // 2],
            "publish_seconds_max": ordered[-1],
            "publish_runs": len(seconds),
            "publish_visitor_requests": visitors.sent,
            "publish_failed_requests": visitors.failed,
        }
    finally:
        if assistant is not None:
            assistant.stop()
        console.stop()


def step_seconds(database: Path) -> Dict[str, float]:
    """Each publish step's median seconds, as the publisher reported them to the console."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT seconds FROM console_publishes WHERE state = 'published'")).all()
    finally:
        engine.dispose()
    runs = [json.loads(row.seconds) for row in rows if row.seconds]
    names = sorted({name for run in runs for name in run})
    return {name: sorted(run.get(name, 0.0) for run in runs)[len(runs) // 2] for name in names}


def met(figures: Dict[str, float]) -> bool:
    """Every publish reached visitors under the target, and no visitor request failed."""
    return figures["publish_seconds_max"] < TARGET_SECONDS and figures["publish_failed_requests"] == 0


def summary(figures: Dict[str, float]) -> str:
    return (
        f"publish: Publish pressed to the new answer given, median {figures['publish_seconds']:.1f} s, slowest "
        f"{figures['publish_seconds_max']:.1f} s of {figures['publish_runs']} (target under {TARGET_SECONDS:g} s); "
        f"visitor requests meanwhile {figures['publish_visitor_requests']}, failed {figures['publish_failed_requests']}"
        f": {'met' if met(figures) else 'MISSED'}"
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "clinic-assistant.tar.gz")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="clinic-publish-"))
    try:
        figures = measure(args.model, work, args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))
    print(summary(figures))
    return 0 if met(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
