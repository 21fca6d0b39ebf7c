"""Keeps visitors' words out of Rasa's warnings, on every channel.

A message starting with "/" that names an unknown intent or entity, or carries broken JSON,
makes Rasa warn with the whole message ("Failed to parse arguments in line '...'"), which
puts whatever the visitor typed (a forged name and phone number, found by the load soak) on
the server's output. The website channel never passes such a message on; Rasa's REST
channel and ``rasa shell`` do. ``install()`` runs once Rasa has set up its own warning
filters (``runtime.serve`` calls it as the server starts), so this filter comes first.
"""

from __future__ import annotations

import warnings

# The warning this filter silences (runtime/internals.py checks the code that raises it
# before the server starts: reworded, the filter would silently stop matching).
RELIES_ON = {
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


def install() -> None:
    """Puts the filter ahead of every other warning filter."""
    warnings.filterwarnings("ignore", message=MESSAGE, category=UserWarning)


def installed() -> bool:
    """Whether Rasa's payload warning would be dropped: the first warning filter it meets ignores it."""
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
