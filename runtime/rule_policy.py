"""Rasa's ``RulePolicy`` remembering which rules match a conversation's states.

To choose each next action, ``RulePolicy`` turns the conversation into its states (what the
visitor said, the last action, the slots that matter, the form) and checks every rule
against them, state by state (``_get_possible_keys``, once for the rules and once for a
form's unhappy paths). With 98 rules that check was about 7% of the Rasa server's CPU
under load in the profile (docs/benchmarks.md), and the same few states come
back in conversation after conversation ("faq" after a greeting, "action_listen" after an
answer...).

``RulePolicyRememberingMatches`` is the same policy (training, rules, files, predictions
are Rasa's) that, once loaded to serve, keeps the matching rules of the last 4096 distinct
states it checked: which rules match depends only on the states and the trained rules,
so a remembered answer is the answer. Training never uses the memory (the rules are still
being worked out then). The states (a whole conversation's) are remembered by a 128-bit
digest, not kept: keeping them made the server grow 10% in the 5-minute soak (make soak).
``tests/test_rule_policy.py`` compares it with RulePolicy.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Dict, Hashable, List, Set, Text

from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage

MATCHES_KEPT = 4096

# What this relies on in Rasa (runtime/internals.py checks it before Rasa serves or trains).
RELIES_ON = {
    "rasa.core.policies.rule_policy:RulePolicy._get_possible_keys": "2915fd81711e194c",
    "rasa.core.policies.rule_policy:RulePolicy.load": "9786fbb945cffab6",
}


def frozen(value: Any) -> Hashable:
    """``value`` (states: lists of dicts of dicts of strings and tuples) as a hashable key."""
    if isinstance(value, dict):
        return ("{", tuple(sorted((key, frozen(item)) for key, item in value.items())))
    if isinstance(value, (list, tuple)):
        return ("[", tuple(frozen(item) for item in value))
    return value


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class RulePolicyRememberingMatches(RulePolicy):
    """``RulePolicy`` that remembers which rules match (see the module docstring)."""

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "RulePolicyRememberingMatches":
        policy = super().load(config, model_storage, resource, execution_context, **kwargs)
        policy._matches = OrderedDict()  # type: ignore[attr-defined]
        return policy

    def _get_possible_keys(self, lookup: Dict[Text, Text], states: List[Dict[Text, Any]]) -> Set[Text]:
        matches = self.__dict__.get("_matches")
        if matches is None:  # training, or created rather than loaded: Rasa's way every time
            return super()._get_possible_keys(lookup, states)
        key = (id(lookup), hashlib.blake2b(repr(frozen(states)).encode(), digest_size=16).digest())
        found = matches.get(key)
        if found is None:
            found = frozenset(super()._get_possible_keys(lookup, states))
            matches[key] = found
            while len(matches) > MATCHES_KEPT:
                matches.popitem(last=False)
        else:
            matches.move_to_end(key)
        return set(found)
