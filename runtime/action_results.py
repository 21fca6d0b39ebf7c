"""Checks the action server's answers against Rasa's schema with a validator built once.

Rasa checks every answer of the action server with ``jsonschema.validate(result, schema)``
(``RemoteAction._validate_action_result``). That call first re-checks Rasa's own constant
schema against the JSON Schema 2020-12 meta-schema, every time: about 30 ms of CPU per custom
action on this machine, 60% of the Rasa server's CPU under load in the profile
(docs/benchmarks.md). Here the schema is checked once, at start, and each answer is validated
with the same validator class and the same best-match error, with the same message added.
The answer is checked exactly as before; only the repeated check of Rasa's schema is gone.

Then jsonschema's own walk through that schema (an event checked against every kind of
event it could be, about 1 ms) was still 15% of the CPU of a conversation's first message.
An answer's validity depends on its content only, and the action server gives the same
answers again and again (every new conversation's session start, the opening hours...):
the digests of the last 1024 answers found valid are kept, and an answer with the same
content is not walked again. Anything else is checked as above. (A schema compiled to
Python, fastjsonschema, was measured too: no faster on these answers.)
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any, Callable, Dict, Text

from jsonschema import exceptions, validators

REMEMBERED_VALID_ANSWERS = 1024

# What this relies on in Rasa (runtime/internals.py checks it before the server starts).
RELIES_ON = {
    "rasa.core.actions.action:RemoteAction._validate_action_result": "f8cdb4be68123961",
    "rasa.core.actions.action:RemoteAction.action_response_format_spec": "091b74aa3738d126",
}


def fast_result_check(schema: Dict[Text, Any], docs_url: str) -> Callable[[Any, Dict[Text, Any]], bool]:
    """A drop-in ``_validate_action_result`` for ``schema``: True, or raises ``ValidationError``."""
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)  # once, where jsonschema.validate does it on every call
    validator = validator_class(schema)
    valid: "OrderedDict[bytes, None]" = OrderedDict()  # digests of answers found valid, newest last

    def _validate_action_result(_action: Any, result: Dict[Text, Any]) -> bool:
        try:
            digest = hashlib.sha256(json.dumps(result, sort_keys=True).encode()).digest()
        except (TypeError, ValueError):  # not JSON after all: checked the long way
            digest = None
        if digest is not None and digest in valid:
            valid.move_to_end(digest)
            return True
        error = exceptions.best_match(validator.iter_errors(result))
        if error is not None:
            error.message += (
                ". Failed to validate Action server response from API, make sure your response "
                f"from the Action endpoint is valid. For more information about the format visit {docs_url}/custom-actions"
            )
            raise error
        if digest is not None:
            valid[digest] = None
            if len(valid) > REMEMBERED_VALID_ANSWERS:
                valid.popitem(last=False)
        return True

    return _validate_action_result


def install() -> None:
    """Makes Rasa's remote actions use the validator built once (``runtime.serve``)."""
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if installed():
        return
    original = RemoteAction._validate_action_result
    check = fast_result_check(RemoteAction.action_response_format_spec(), DOCS_BASE_URL)
    check.__rasa_original__ = original  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = check  # type: ignore[assignment]


def installed() -> bool:
    """Whether Rasa's remote actions check answers with the validator built once."""
    from rasa.core.actions.action import RemoteAction

    return hasattr(RemoteAction._validate_action_result, "__rasa_original__")
