"""Keeps visitors' words out of Rasa's warnings and structured log, on every channel.

A message starting with "/" that names an unknown intent or entity, or carries broken JSON,
makes Rasa warn with the whole message ("Failed to parse arguments in line '...'"), which
puts whatever the visitor typed (a forged name and phone number, found by the load soak) on
the server's output. The website channel never passes such a message on; Rasa's REST
channel and ``rasa shell`` do. ``install()`` runs once Rasa has set up its own warning
filters (``runtime.serve`` calls it as the server starts), so this filter comes first.

Rasa's structured log (structlog) names what a visitor typed too: ``message.parsing.failed``
carries ``user_text`` for a message starting with "/" that is no payload, and at DEBUG every
parsed message's text and entities. A first processor hides every such field, whatever the
event and the level.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Dict

# The warning this filter silences (runtime/internals.py checks the code that raises it
# before the server starts: reworded, the filter would silently stop matching).
RELIES_ON = {
    "rasa.utils.log_utils:configure_structlog": "80c9dcfa47c776b5",
    "rasa.shared.core.training_data.story_reader.yaml_story_reader:YAMLStoryReader.unpack_regex_message": (
        "bf81f8a66c2c3e52"
    ),
    "rasa.shared.core.training_data.story_reader.yaml_story_reader:YAMLStoryReader._intent_name_from_regex_match": (
        "617b7899c40ac0c8"
    ),
    "rasa.shared.core.training_data.story_reader.yaml_story_reader:YAMLStoryReader._entities_from_regex_match": (
        "c654a66d095fcd1c"
    ),
    "rasa.shared.core.training_data.story_reader.yaml_story_reader:YAMLStoryReader._confidences_from_regex_match": (
        "1173de8b4d20c3b2"
    ),
}

MESSAGE = r"Failed to parse arguments in line"
# Structured-log fields that can hold what a visitor typed: texts, entities, slots, metadata.
VISITOR_FIELDS = re.compile(r"text|entit|slot|value|metadata|message|utterance", re.IGNORECASE)
HIDDEN = "[hidden]"


def hide_visitor_words(_logger: Any, _method: str, event: Dict[str, Any]) -> Dict[str, Any]:
    """A structlog processor: every field that may hold a visitor's words, hidden."""
    for key in list(event):
        if key != "event" and VISITOR_FIELDS.search(key):
            event[key] = HIDDEN
    return event


def install() -> None:
    """Puts the warning filter ahead of every other, and the structured log's processor first
    (in the list Rasa configured, which loggers already in use share)."""
    import structlog

    warnings.filterwarnings("ignore", message=MESSAGE, category=UserWarning)
    processors = structlog.get_config()["processors"]
    if hide_visitor_words not in processors:
        processors.insert(0, hide_visitor_words)


def installed() -> bool:
    """Whether Rasa's payload warning would be dropped (the first warning filter it meets ignores
    it) and the structured log hides visitors' words."""
    import structlog

    if hide_visitor_words not in structlog.get_config()["processors"]:
        return False
    text = "Failed to parse arguments in line '/book_appointment{'."
    module = "rasa.shared.core.training_data.story_reader.yaml_story_reader"
    for action, message, category, module_pattern, _line in warnings.filters:
        if (
            issubclass(UserWarning, category)
            and (message is None or message.match(text))
            and (module_pattern is None or module_pattern.match(module))
        ):
            return action == "ignore"
    return False
