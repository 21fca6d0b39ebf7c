"""The second question of a message that asks two ("how much is it, and do I need a referral?").

The NLU pipeline answers the first question as usual and names the second one's answer in an
``also_asked`` entity (``faq/<topic>`` or a clinic intent; clinic_nlu/question_focus.py); the
rules run this action after the first answer when the entity is there.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.clinic_info import FACT_FIELDS, answered_topic, clinic_answer
from actions.faq_topics import topic_labels
from clinic import clock
from clinic.feedback import answer_mark
from clinic.profile import current_profile

ALSO_ASKED = "also_asked"
CLINIC_INTENTS = {"ask_hours", "ask_location", "ask_contact", "ask_cost", *FACT_FIELDS}


def also_asked(latest_message: Dict[str, Any]) -> Optional[str]:
    """The second question's label from the latest message's entities, if there is one."""
    for entity in latest_message.get("entities") or []:
        if entity.get("entity") == ALSO_ASKED and isinstance(entity.get("value"), str):
            return entity["value"]
    return None


class ActionAnswerAlsoAsked(Action):
    def name(self) -> Text:
        return "action_answer_also_asked"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        label = also_asked(tracker.latest_message or {})
        if label and label.startswith("faq/") and label[len("faq/") :] in topic_labels():
            dispatcher.utter_message(response=f"utter_{label}")
        elif label in CLINIC_INTENTS:
            profile = current_profile()
            dispatcher.utter_message(
                text=clinic_answer(profile, label, clock.now()), **answer_mark(answered_topic(profile, label))
            )
        return []
