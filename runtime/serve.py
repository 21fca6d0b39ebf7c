"""``python -m runtime.serve [run|shell] [rasa options]``: the one way this project starts Rasa.

It is ``rasa run`` (or ``rasa shell``) with the same options, after three steps:

1. Checks every Rasa internal that a replacement below relies on, and every one the
   conversation store (endpoints.yml) and the rule policy and featurizer (config.yml) rely
   on (``runtime/internals.py``). If any is missing or its source changed (a Rasa upgrade),
   it refuses to start and names each: never half-replaced.
2. Installs the replacements, measured by ``make bench`` (docs/benchmarks.md) and each tested
   against the Rasa code it stands in for: the model's graph run in a fixed order
   (``graph_runner``), the action server's answers checked by a validator built once
   (``action_results``), calls to the action server over kept-alive connections
   (``action_calls``).
3. Hands Rasa server listeners (its own ``server_listeners`` hook) that keep visitors' words
   out of Rasa's warnings once Rasa has set up its own filters (``privacy``), log one line
   naming what is installed once the model is loaded (and stop the server if the model is
   not served by the replaced runner), and close the kept-alive connections at shutdown.

``make run``, ``make shell``, the tests, the benchmark, the soak and the multi-server layout
all start Rasa through this module, whatever channels credentials.yml lists.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable, List, Optional, Sequence, Tuple

from clinic import settings
from clinic_nlu import count_vectors
from runtime import (
    action_calls,
    action_results,
    graph_runner,
    internals,
    model_pulling,
    privacy,
    root_route,
    rule_policy,
    tracker_store,
)

logger = logging.getLogger("runtime.serve")

# How this module hands Rasa its listeners: Rasa's CLI builds its options with
# ``create_argument_parser`` and passes every option on to ``serve_application``.
RELIES_ON = {
    "rasa.__main__:main": "2f38a2b1d86fd943",
    "rasa.api:run": "03824a79eb4e4c72",
    "rasa.core.run:serve_application": "fa80588d9e008b67",
    "rasa.core.run:configure_app": "72da30416f74c648",
}

# What is installed into Rasa here, with the words the start-up line uses for each.
INSTALLED = (
    (graph_runner, "the model's graph run in a fixed order"),
    (action_results, "action answers checked by a validator built once"),
    (action_calls, "kept-alive action server connections"),
    (privacy, "visitors' words kept out of Rasa's warnings"),
    (root_route, "a root route that names no version"),
    (model_pulling, "the model loaded from its file, then published ones followed"),
)
# Every module whose Rasa internals are checked before the server starts.
CHECKED = (
    sys.modules[__name__],
    graph_runner,
    action_results,
    action_calls,
    privacy,
    root_route,
    model_pulling,
    tracker_store,
    rule_policy,
    count_vectors,
)
COMMANDS = ("run", "shell")


class NotServedAsInstalled(RuntimeError):
    """The server is not running what was installed (the loaded model uses another runner)."""


def install() -> int:
    """Checks Rasa's internals, then installs the replacements; returns how many internals were checked.

    Raises:
        internals.RasaInternalsChanged: before anything is installed.
        RuntimeError: when a replacement finds nothing to replace.
    """
    checked = internals.check(CHECKED)
    graph_runner.install()
    action_results.install()
    action_calls.install()
    root_route.install()
    model_pulling.install()
    return checked


async def keep_visitor_words_out_of_warnings(_app: Any, _loop: Any) -> None:
    """``before_server_start``: after Rasa's CLI has set its warning filters, so this one comes first."""
    privacy.install()


def started_line(checked: int) -> Callable[[Any, Any], Any]:
    """``after_server_start``: checks the server runs what was installed, then logs one line naming it."""

    async def confirm(app: Any, _loop: Any) -> None:
        agent = getattr(app.ctx, "agent", None)
        runner = getattr(getattr(agent, "processor", None), "graph_runner", None)
        missing = [words for module, words in INSTALLED if not module.installed()]
        if runner is not None and not isinstance(runner, graph_runner.SequentialGraphRunner):
            missing.append(f"the model is run by {type(runner).__name__}")
        if missing:
            logger.error("Rasa is not running as extended (%s); stopping", "; ".join(missing))
            app.stop()
            return
        import rasa

        logger.info(
            "Rasa %s extended (%d internals checked): %s%s",
            rasa.__version__,
            checked,
            ", ".join(words for _module, words in INSTALLED),
            "" if runner is not None else " (no model is loaded)",
        )

    return confirm


async def close_action_server_connections(_app: Any, _loop: Any) -> None:
    """``after_server_stop``: closes the kept-alive connections of this loop and stops following
    the published model."""
    await model_pulling.stop_following()
    await action_calls.close_sessions()


def listeners(checked: int) -> List[Tuple[Callable[..., Any], str]]:
    """The server listeners handed to Rasa (``serve_application(server_listeners=...)``)."""
    return [
        (keep_visitor_words_out_of_warnings, "before_server_start"),
        (started_line(checked), "after_server_start"),
        (close_action_server_connections, "after_server_stop"),
    ]


def rasa_arguments(argv: Sequence[str]) -> Tuple[str, List[str]]:
    """``[run|shell] [options]`` into Rasa's command and its options (``run`` when none is given)."""
    if argv and argv[0] in COMMANDS:
        return argv[0], list(argv[1:])
    return "run", list(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    command, options = rasa_arguments(sys.argv[1:] if argv is None else argv)
    try:
        # Sanic reads SANIC_* variables when Rasa creates the app: every route, Rasa's own
        # included, then refuses a larger body (413) before reading it.
        os.environ["SANIC_REQUEST_MAX_SIZE"] = str(settings.request_max_bytes())
        checked = install()
    except (internals.RasaInternalsChanged, RuntimeError, settings.SettingsError) as error:
        print(f"The Rasa server cannot start: {error}", file=sys.stderr)
        return 2
    # The conversation store and anything else this server writes: readable by its user alone.
    os.umask(0o077)

    import rasa.__main__

    build_parser = rasa.__main__.create_argument_parser

    def parser_with_listeners() -> Any:
        parser = build_parser()
        parser.set_defaults(server_listeners=listeners(checked))
        return parser

    rasa.__main__.create_argument_parser = parser_with_listeners
    sys.argv = ["rasa", command, *options]
    rasa.__main__.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
