"""Reads the question in a long message, and both questions in a message that asks two.

Real visitors tell a story first and ask last ("I've had back pain for three years and my physio
mentioned needling. I'm terrified of needles, does it hurt much?"), and the classifiers, which
read the whole message as one bag of words, let the story decide: back pain, physio -> "what can
it treat". Others ask two things at once ("how much is the first visit and do I need a referral").

This component runs after the classifiers and fallbacks. It splits the message into sentences and
question clauses (``split_message``), and classifies each with one flat linear model over
every answer (``faq/<topic>`` and the other intents alike), trained on the same examples and the
same features: a segment's features are the sum of its tokens' rows in the featurizers' sequence
features, which is exactly how the sentence features are made.

- A story and a question: the question's probabilities count more than the whole message's
  (``focus_weight``); when that combination is sure of an answer (``threshold``), it replaces the
  classifiers' decision.
- Two questions whose answers differ and are both sure (``two_threshold``): the first is the
  message's answer, the second goes into an ``also_asked`` entity, answered after the first
  (actions/also_asked.py).

A short message with one question is left as the classifiers read it. Saved as numbers and
JSON like the other linear components, never pickled.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

import numpy as np
import scipy.sparse
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME, TOKENS_NAMES
from rasa.shared.nlu.constants import (
    ENTITIES,
    FEATURE_TYPE_SEQUENCE,
    INTENT,
    INTENT_RESPONSE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from clinic_nlu.linear_selector import LinearResponseSelector, label_id
from clinic_nlu.topic_guard import FALLBACK_INTENT

ALSO_ASKED = "also_asked"

# Words a question clause starts with. A clause joined by "and" / "also" / a comma that starts
# with one of these is a second question ("... and do I need a referral").
QUESTION_STARTS = {
    "what", "whats", "what's", "how", "hows", "how's", "why", "when", "where", "wheres", "who", "whos",
    "which", "does", "do", "did", "is", "isnt", "are", "can", "could", "will", "would", "should",
    "shall", "may", "might", "am", "have", "has", "any", "r", "u", "wat", "wht", "hw",
}  # fmt: skip
JOINS = re.compile(r"\s*(?:,\s*(?:and\s+|also\s+|plus\s+)?|\s+(?:and|also|plus|&)\s+(?:also\s+)?)", re.I)
SENTENCE_END = re.compile(r"(?<=[?!.])\s+|\n+|(?<=\?)(?=\S)")
# A statement is a request only when it says what is wanted and that it is wanted ("if so I'd like
# to book in"), not when it mentions an appointment in a story ("the earliest GP appointment is...").
REQUEST_WORDS = re.compile(
    r"\b(book|booking|appointment|appt|slot|call|ring|phone|speak|talk|human|person|someone|somebody|staff)\b", re.I
)
WANTING = re.compile(
    r"\b(i'?d like|id like|i would like|i want|i wanna|please|pls|plz|can i|could i|let me|sign me up|get me|"
    r"i'?ll take|keen to|i need to)\b",
    re.I,
)

# Words that may stand before a second question's first word.
HEDGES = {"roughly", "approximately", "about", "also", "then", "just", "so", "maybe", "and", "like"}
ASKING = re.compile(
    r"\b(wondering|want(ed)? to know|like to know|tell me|question|curious|any idea|anyone know)\b", re.I
)


# Questions that need no answer of their own beside a request ("are you a bot? I want a person").
SMALL_TALK = {"bot_challenge", "greet", "thank", "affirm", "goodbye"}

# What a visitor may ask for beside a question: the request is handled and the question answered.
REQUESTS = {"book_appointment", "request_callback", "human_handoff"}


# Labels whose answer is a fact to give; a second question is only answered when it is one.
def answerable(label: str) -> bool:
    return label.startswith("faq/") or label.startswith("ask_")


def _words(text: str) -> List[str]:
    return re.findall(r"[a-z']+", text.lower())


# Words that may come before a question's first word ("and how long...", "so does it...").
LEAD_INS = {"and", "also", "plus", "so", "but", "oh", "ok", "okay", "then", "just", "um", "also,"}


def is_question(sentence: str) -> bool:
    """Whether a sentence asks something: a question mark, a question word first, or "I was wondering"."""
    words = _words(sentence)
    while words and words[0] in LEAD_INS:
        words = words[1:]
    return (
        sentence.rstrip().endswith("?") or bool(words and words[0] in QUESTION_STARTS) or bool(ASKING.search(sentence))
    )


def sentences(text: str) -> List[Tuple[int, int]]:
    """Character spans of the text's sentences (a question mark, full stop or new line ends one)."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(text):
        if text[start : match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def question_clauses(text: str, span: Tuple[int, int]) -> List[Tuple[int, int]]:
    """A question sentence split where a second question starts ("..., and how long is it?")."""
    start, end = span
    pieces, begin = [], start
    for join in JOINS.finditer(text, start, end):
        following = _words(text[join.end() : end])
        while following[:1] and following[0] in HEDGES:  # "..., and roughly how many visits"
            following = following[1:]
        before = _words(text[begin : join.start()])
        if following and following[0] in QUESTION_STARTS and len(before) >= 2 and len(following) >= 3:
            pieces.append((begin, join.start()))
            begin = join.end()
    pieces.append((begin, end))
    return pieces


def split_message(text: str) -> Tuple[List[Tuple[int, int]], List[Tuple[int, int]]]:
    """The spans of the message's questions (a sentence, or a clause of one) and of everything
    else (its statements: a story, or a request such as "I'd like to book in")."""
    questions: List[Tuple[int, int]] = []
    statements: List[Tuple[int, int]] = []
    for span in sentences(text):
        sentence = text[span[0] : span[1]]
        if is_question(sentence):
            # A clause that is not a question belongs to the question after it: "she's diabetic,
            # does that change anything?" asks about the diabetes.
            begin = None
            for clause in question_clauses(text, span):
                if is_question(text[clause[0] : clause[1]]) or clause[1] == span[1]:
                    questions.append((clause[0] if begin is None else begin, clause[1]))
                    begin = None
                elif begin is None:
                    begin = clause[0]
        elif _words(sentence):
            statements.append(span)
    return questions, statements


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class QuestionFocus(LinearResponseSelector):
    """Decides a long or double question by its question clauses (see the module docstring)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Defaults; ``config.yml`` sets the measured values."""
        return {
            "C": 10.0,
            "max_iter": 2000,
            "ranking_length": 10,
            "random_seed": 42,
            "retrieval_intent": "faq",
            # How much the question counts against the whole message (0: not at all, 1: alone).
            "focus_weight": 0.7,
            # The combination must be this sure to replace the classifiers' decision.
            "threshold": 0.5,
            # Each of two questions must be this sure to get its own answer.
            "two_threshold": 0.5,
            # A request (to book, to be called) beside a question must be this sure: a wrongly
            # started booking form is worse than one answer missing.
            "request_threshold": 0.85,
        }

    def train(self, training_data: TrainingData) -> Resource:
        """Fits one weight vector per answer (FAQ topic or intent), then saves the model."""
        examples = [m for m in training_data.intent_examples if m.get(INTENT) and self._sentence_features(m)]
        self._retrieval_intents = sorted(training_data.retrieval_intents)
        self._fit(examples, [m.get(INTENT_RESPONSE_KEY) or m.get(INTENT) for m in examples])
        self.persist()
        return self._resource

    @staticmethod
    def _sequence_rows(message: Message) -> Optional[Tuple[list, List[scipy.sparse.csr_matrix]]]:
        """The message's tokens and its sparse sequence features (a row per token, one matrix per
        featurizer), converted once for all its segments."""
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        matrices = [
            feature.features.tocsr()
            for feature in message.features
            if feature.attribute == TEXT and feature.type == FEATURE_TYPE_SEQUENCE and feature.is_sparse()
        ]
        if not matrices or any(matrix.shape[0] != len(tokens) for matrix in matrices):
            return None
        return tokens, matrices

    @staticmethod
    def _segment_blocks(
        tokens: list, matrices: List[scipy.sparse.csr_matrix], span: Tuple[int, int]
    ) -> Optional[List[scipy.sparse.spmatrix]]:
        """A segment's feature blocks: its tokens' rows of the sequence features, summed."""
        rows = [i for i, token in enumerate(tokens) if token.start >= span[0] and token.end <= span[1]]
        if not rows:
            return None
        return [scipy.sparse.coo_matrix(matrix[rows].sum(axis=0)) for matrix in matrices]

    def decide(self, message: Message) -> Optional[Tuple[str, float, Optional[str], np.ndarray]]:
        """``(label, confidence, second label or None, probabilities)`` when the message's
        questions decide it, else None (leave the classifiers' decision)."""
        text = message.get(TEXT) or ""
        questions, statements = split_message(text)
        story = bool(statements)
        if not questions or (len(questions) == 1 and not story):
            return None
        whole = self._sentence_features(message)
        sequence = self._sequence_rows(message)
        if whole is None or sequence is None:
            return None
        per_question = []
        for span in questions:
            blocks = self._segment_blocks(*sequence, span)
            if blocks is not None:
                per_question.append(self._probabilities(blocks))
        if not per_question:
            return None
        whole_p = self._probabilities(whole)
        requests = []  # "if so I'd like to book in": a request said, not asked
        for span in statements:
            blocks = self._segment_blocks(*sequence, span)
            if blocks is not None:
                p = self._probabilities(blocks)
                best = int(np.argmax(p))
                said = text[span[0] : span[1]]
                if (
                    self._labels[best] in REQUESTS
                    and p[best] >= float(self._config["request_threshold"])
                    and REQUEST_WORDS.search(said)
                    and WANTING.search(said)
                ):
                    requests.append(p)
        two = self._two_questions(requests + per_question)
        if two is not None:
            return two
        focus = np.mean(per_question, axis=0) if len(per_question) > 1 else per_question[0]
        weight = float(self._config["focus_weight"])
        combined = np.exp((1.0 - weight) * np.log(whole_p + 1e-12) + weight * np.log(focus + 1e-12))
        combined = combined / combined.sum()
        best = int(np.argmax(combined))
        if combined[best] < float(self._config["threshold"]):
            return None
        return self._labels[best], float(combined[best]), None, combined

    def _two_questions(
        self, per_question: Sequence[np.ndarray]
    ) -> Optional[Tuple[str, float, Optional[str], np.ndarray]]:
        """The first two questions' answers, when they differ and both are sure: two facts in the
        order asked, or a request (booking, callback, a person) first and a fact second."""
        sure = [
            (self._labels[int(np.argmax(p))], float(np.max(p)), p)
            for p in per_question
            if float(np.max(p)) >= float(self._config["two_threshold"])
        ]
        facts = [entry for entry in sure if answerable(entry[0])]
        request_bar = float(self._config["request_threshold"])
        requests = [entry for entry in sure if entry[0] in REQUESTS and entry[1] >= request_bar]
        if requests and facts:
            return requests[0][0], requests[0][1], facts[0][0], requests[0][2]
        if requests and not facts and len(sure) == len(requests) + len([e for e in sure if e[0] in SMALL_TALK]):
            # "is this a bot? i want a human": the request is what to act on
            return requests[0][0], requests[0][1], None, requests[0][2]
        if len(facts) < 2 or facts[0][0] == facts[1][0]:
            return None
        return facts[0][0], facts[0][1], facts[1][0], facts[0][2]

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces the decision of a story-and-question or two-question message (see above)."""
        if self._weights is None or not self._labels:
            return messages
        for message in messages:
            if (message.get(INTENT) or {}).get("name") == "red_flag":
                continue  # never away from a safety message
            decision = self.decide(message)
            if decision is not None:
                self._apply(message, *decision)
        return messages

    def _apply(self, message: Message, label: str, confidence: float, second: Optional[str], p: np.ndarray) -> None:
        retrieval = self._config["retrieval_intent"]
        intent = retrieval if label.startswith(retrieval + "/") else label
        ranking = [entry for entry in message.get("intent_ranking") or [] if entry.get("name") not in {intent}]
        chosen = {"name": intent, "confidence": confidence}
        message.data[INTENT] = chosen
        message.data["intent_ranking"] = [chosen] + [e for e in ranking if e.get("name") != FALLBACK_INTENT]
        if intent == retrieval:
            order = [i for i in np.argsort(-p) if self._labels[i].startswith(retrieval + "/")]
            topics = [
                {"id": label_id(self._labels[i]), "confidence": float(p[i]), INTENT_RESPONSE_KEY: self._labels[i]}
                for i in order[: int(self._config["ranking_length"])]
            ]
            selectors = dict(message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {})
            selectors.setdefault("all_retrieval_intents", self._retrieval_intents)
            selectors[retrieval] = {
                "response": {
                    "responses": [],
                    "confidence": confidence,
                    INTENT_RESPONSE_KEY: label,
                    "utter_action": f"utter_{label}",
                },
                "ranking": topics,
            }
            message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selectors, add_to_output=True)
        if second is not None:
            entities = list(message.get(ENTITIES) or [])
            text = message.get(TEXT) or ""
            entities.append(
                {"entity": ALSO_ASKED, "value": second, "start": 0, "end": len(text), "extractor": type(self).__name__}
            )
            message.set(ENTITIES, entities, add_to_output=True)
