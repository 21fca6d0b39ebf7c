"""``python -m runtime.publish``: the staff console's publisher, a process kept warm between publishes.

The console (console/publishing.py) starts it once and sends it one JSON line per Publish on its
standard input::

    {"id": 7, "data": "/srv/clinic/data", "model": "/srv/clinic/models/clinic-assistant.tar.gz"}

It runs what ``make check`` runs, in this process, in the project folder it was started in (its
config.yml, domain.yml, tests/test_stories.yml and Rasa's training cache in .rasa/):

1. the topic files' checks (``clinic.topic_files``, what ``tools/faq_conventions.py`` runs);
2. Rasa's data checks, failing on warnings (the function ``rasa data validate`` calls);
3. training, through the same graph and caches as ``make train`` (runtime/training.py), into a
   file beside the model;
4. the conversation tests of tests/test_stories.yml on that file, failing on any wrong
   prediction (what ``rasa test core --e2e --fail-on-prediction-errors`` runs).

Only when all four pass does the new file replace the model (``os.replace``: a Rasa server
fetching it reads the old file or the new one, never half of one); on any failure the model is
untouched and the reply says which step failed and why, with the file and line where the check
gives them. It answers on standard output, one JSON line per step started and finished and one
for the result; everything Rasa prints goes to standard error.

Why a process of its own, kept warm: importing Rasa and TensorFlow takes longer than a whole
retraining after an edited answer, and the console's event loop must go on serving staff while a
training runs. The steps run one after another as ``make check`` runs them; validation and
training share one reading of the files (runtime/training.py ``one_importer_per_project``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, TextIO

from clinic.published_model import fingerprint
from clinic.topic_files import check_faq_dir
from runtime import internals, rule_policy, training

STORIES = Path("tests") / "test_stories.yml"
DOMAIN = "domain.yml"
MAX_DETAIL_LINES = 40

# What this relies on in Rasa (runtime/internals.py checks it before the publisher starts): the
# validation ``rasa data validate`` runs, the training ``rasa train`` runs, and the story test
# ``rasa test core`` runs, each called as those commands call them.
RELIES_ON = {
    "rasa.cli.utils:validate_files": "4f9bea6b2e533611",
    "rasa.model_training:train": "1367a831744be74b",
    "rasa.core.test:test": "48cccc50374b97aa",
}
CHECKED = (sys.modules[__name__], training, rule_policy)


class StepFailed(Exception):
    """A step of the publish failed; ``str`` says why (file and line where known)."""


def _detail(lines: List[str]) -> str:
    kept = [line.rstrip() for line in lines if line.strip()]
    if len(kept) > MAX_DETAIL_LINES:
        kept = kept[:MAX_DETAIL_LINES] + [f"... and {len(kept) - MAX_DETAIL_LINES} more lines"]
    return "\n".join(kept)


@contextlib.contextmanager
def captured() -> Any:
    """What Rasa says during a step: printed text, warnings and log records of WARNING and above."""
    said: List[str] = []
    printed = io.StringIO()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    handler = Keep(level=logging.WARNING)
    logging.getLogger().addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            yield said
    finally:
        logging.getLogger().removeHandler(handler)
        said.extend(str(warning.message) for warning in caught)
        said.extend(printed.getvalue().splitlines())
        sys.stderr.write(printed.getvalue())


def check_topics(data: Path) -> str:
    _topics, problems = check_faq_dir(data / "faq")
    if problems:
        raise StepFailed(_detail([str(problem) for problem in problems]))
    return f"{len(_topics)} topics"


def validate(data: Path) -> str:
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        config_path=str(training.GRAPH_CONFIG), domain_path=DOMAIN, training_data_paths=[str(data)]
    )
    with captured() as said:
        try:
            validate_files(True, None, importer)
        except SystemExit as exit_:
            if exit_.code:
                raise StepFailed(_detail(said) or "Rasa's data checks failed.") from None
    return "no problems"


def train(data: Path, staged: Path) -> str:
    from rasa.model_training import train as rasa_train

    with captured() as said:
        result = rasa_train(
            domain=DOMAIN,
            config=str(training.GRAPH_CONFIG),
            training_files=[str(data)],
            output=str(staged.parent),
            fixed_model_name=staged.name[: -len(".tar.gz")],
        )
    if result.code != 0 or not staged.exists():
        raise StepFailed(_detail(said) or "Training failed.")
    return "trained"


def test_stories(staged: Path) -> str:
    from rasa.core.agent import Agent
    from rasa.core.test import WrongPredictionException
    from rasa.core.test import test as core_test

    agent = Agent.load(model_path=str(staged))
    with captured() as said:
        try:
            summary = asyncio.run(
                core_test(str(STORIES), agent, e2e=True, fail_on_prediction_errors=True, disable_plotting=True)
            )
        except WrongPredictionException as wrong:
            raise StepFailed(f"A conversation test failed ({STORIES}): {wrong}") from None
    if not isinstance(summary, dict):
        raise StepFailed(_detail(said) or "The conversation tests did not run.")
    return "every conversation test passed"


STEPS: List[tuple] = [
    ("topics", "Topic files"),
    ("validate", "Rasa's data checks"),
    ("train", "Training"),
    ("stories", "Conversation tests"),
]


def publish(job: Dict[str, Any], tell: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    """Runs the four steps for ``job``; replaces the model only when all pass. Returns the result."""
    data = Path(job["data"]).resolve()
    model = Path(job["model"]).resolve()
    staged = model.with_name(f".publishing-{int(job['id'])}.tar.gz")
    timings: Dict[str, float] = {}
    runs: Dict[str, Callable[[], str]] = {
        "topics": lambda: check_topics(data),
        "validate": lambda: validate(data),
        "train": lambda: train(data, staged),
        "stories": lambda: test_stories(staged),
    }
    try:
        with training.one_importer_per_project():
            for key, title in STEPS:
                tell({"id": job["id"], "step": key, "title": title, "state": "running"})
                started = time.monotonic()
                try:
                    outcome = runs[key]()
                except StepFailed as failure:
                    timings[key] = round(time.monotonic() - started, 2)
                    tell({"id": job["id"], "step": key, "title": title, "state": "failed", "detail": str(failure)})
                    return {
                        "id": job["id"],
                        "result": "failed",
                        "step": key,
                        "detail": str(failure),
                        "seconds": timings,
                    }
                except Exception as error:  # noqa: BLE001 - any error in a step fails the publish, never the process
                    logging.getLogger(__name__).exception("publish step %s failed", key)
                    detail = f"{type(error).__name__}: {error}"
                    tell({"id": job["id"], "step": key, "title": title, "state": "failed", "detail": detail})
                    return {"id": job["id"], "result": "failed", "step": key, "detail": detail, "seconds": timings}
                timings[key] = round(time.monotonic() - started, 2)
                tell({"id": job["id"], "step": key, "title": title, "state": "passed", "detail": outcome})
        os.replace(staged, model)
        return {"id": job["id"], "result": "published", "fingerprint": fingerprint(model), "seconds": timings}
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()


def warm_up() -> None:
    """Imports what every publish needs, so the first one is as quick as the next."""
    import rasa.cli.utils  # noqa: F401
    import rasa.core.agent  # noqa: F401
    import rasa.core.test  # noqa: F401
    import rasa.model_training  # noqa: F401

    training.write_graph_config(Path("config.yml"))


def serve(requests: TextIO, answers: TextIO) -> None:
    """Answers each JSON line of ``requests`` on ``answers`` until ``requests`` ends."""

    def tell(message: Dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    warm_up()
    tell({"ready": True})
    for line in requests:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            int(job["id"]), str(job["data"]), str(job["model"])
        except (ValueError, KeyError, TypeError):
            tell({"result": "failed", "step": None, "detail": "The publish request was not understood."})
            continue
        training.write_graph_config(Path("config.yml"))
        tell(publish(job, tell))


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        internals.check(CHECKED)
    except internals.RasaInternalsChanged as error:
        print(json.dumps({"ready": False, "detail": f"The publisher cannot start: {error}"}), flush=True)
        return 2
    # The replies keep this process's standard output to themselves: whatever Rasa prints goes
    # to standard error instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
