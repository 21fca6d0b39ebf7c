"""When the assistant is unsure what a visitor means.

First "Did you mean...?" with up to three plain-language buttons naming the
closest topics (the response selector's ranking), then a request to rephrase,
then the clinic's contact details. Where the conversation is in that sequence
is read from the tracker's events, so nothing extra is stored.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.faq_topics import (
    choose_topic_payload,
    chosen_topic,
    closest_topics,
    topic_labels,
    topic_picked_by_words,
)
from clinic.profile import contact_details, current_profile

ACTION_CLARIFY = "action_clarify_topic"
NONE_OF_THESE = {"title": "None of these", "payload": "/deny"}

SUGGEST, REPHRASE, CONTACT = "suggest", "rephrase", "contact"


def unclear_turns_before(events: List[Dict[str, Any]]) -> int:
    """How many visitor turns in a row, just before the latest one, ended in clarifying.

    A turn is the visitor's message and the actions that answered it; it was
    unclear when ``action_clarify_topic`` answered it.
    """
    turns: List[List[str]] = []
    for event in events:
        if event.get("event") == "user":
            turns.append([])
        elif event.get("event") == "action" and turns:
            turns[-1].append(event.get("name"))
    count = 0
    for actions in reversed(turns[:-1]):  # the latest turn is the one being answered
        if ACTION_CLARIFY not in actions:
            break
        count += 1
    return count


def clarifying_step(unclear_before: int, has_suggestions: bool) -> str:
    """Which step of clarifying to take: suggest topics, ask to rephrase, or give contacts.

    The sequence repeats after the contact details, so a visitor who keeps
    trying is offered topics again rather than the same message forever.
    """
    position = unclear_before % 3
    if position == 0:
        return SUGGEST if has_suggestions else REPHRASE
    if position == 1:
        return REPHRASE
    return CONTACT


def suggestion_buttons(topics: List[str], labels: Dict[str, str]) -> List[Dict[str, str]]:
    """Buttons naming each suggested topic, then "None of these"."""
    buttons = [{"title": labels[topic], "payload": choose_topic_payload(topic)} for topic in topics]
    return buttons + [dict(NONE_OF_THESE)]


class ActionClarifyTopic(Action):
    """Did you mean...? / please rephrase / contact the clinic."""

    def name(self) -> Text:
        return ACTION_CLARIFY

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        labels = topic_labels()
        topics = closest_topics(tracker.latest_message or {}, labels)
        step = clarifying_step(unclear_turns_before(tracker.events), bool(topics))
        if step == SUGGEST:
            dispatcher.utter_message(
                response="utter_did_you_mean",
                buttons=suggestion_buttons(topics, labels),
                **contact_details(current_profile()),
            )
        elif step == REPHRASE:
            dispatcher.utter_message(response="utter_ask_rephrase")
        else:
            dispatcher.utter_message(response="utter_contact_clinic", **contact_details(current_profile()))
        return []


class ActionAnswerChosenTopic(Action):
    """Answers the topic a visitor picked from a button, or typed as "the second one"."""

    def name(self) -> Text:
        return "action_answer_chosen_topic"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        labels = topic_labels()
        latest = tracker.latest_message or {}
        topic = chosen_topic(latest.get("entities") or [], labels) or topic_picked_by_words(
            latest.get("text") or "", tracker.events, labels
        )
        if topic is None:
            dispatcher.utter_message(response="utter_ask_rephrase")
        else:
            dispatcher.utter_message(response=f"utter_faq/{topic}")
        return []


ASK_THE_TEAM = {"title": "Ask the team", "payload": "/human_handoff"}


class ActionDecline(Action):
    """A question none of the answers covers: says so and gives the clinic's contact (never the
    nearest FAQ: a confident wrong answer costs a visitor more than an honest "can't answer")."""

    def name(self) -> Text:
        return "action_decline"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(
            response="utter_out_of_scope", buttons=[dict(ASK_THE_TEAM)], **contact_details(current_profile())
        )
        return []
