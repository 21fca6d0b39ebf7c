"""Cross-validates NLU pipelines the way the assistant is judged, and picks fallback thresholds.

Rasa's own ``rasa test nlu --cross-validation`` (``make crossval``) reports intent
and response-selection scores separately. What matters here is one label per
message (``faq/<topic>`` or the intent) and whether an off-topic message is
kept away from the FAQ answers, after both fallbacks. This script:

1. splits ``data/`` into stratified folds (never touching ``tests/heldout``);
2. trains each candidate config with its fallback thresholds set to zero, so it
   records the raw confidences of every prediction;
3. replays the fallback rules over a grid of thresholds on those confidences.

Usage: ``python -m tools.compare_pipelines <config.yml> [more configs] --folds 3``.
Prints, per config, the accuracy at the thresholds in ``config.yml`` and the
frontier of the grid (the best topic accuracy for each level of off-topic accuracy); writes every prediction to ``results/compare/<config name>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent

NOT_ANSWERED = {"out_of_scope", "nlu_fallback"}


def label_of(message) -> str:
    return message.get("intent_response_key") or message.get("intent")


def stratified_folds(examples: List[Any], folds: int, seed: int = 7) -> List[List[Any]]:
    by_label: Dict[str, List[Any]] = defaultdict(list)
    for example in examples:
        by_label[label_of(example)].append(example)
    buckets: List[List[Any]] = [[] for _ in range(folds)]
    rng = random.Random(seed)
    for label in sorted(by_label):
        items = by_label[label][:]
        rng.shuffle(items)
        for index, item in enumerate(items):
            buckets[index % folds].append(item)
    return buckets


def zero_thresholds(config: Dict[str, Any]) -> Dict[str, Any]:
    raw = copy.deepcopy(config)
    for component in raw["pipeline"]:
        if component["name"] == "FallbackClassifier" or component["name"].endswith("ResponseSelectorFallback"):
            component["threshold"] = 0.0
            component["ambiguity_threshold"] = 0.0
    return raw


def thresholds_in(config: Dict[str, Any]) -> Dict[str, float]:
    found = {}
    for component in config["pipeline"]:
        if component["name"] == "FallbackClassifier":
            found["intent_t"], found["intent_a"] = component["threshold"], component["ambiguity_threshold"]
        if component["name"].endswith("ResponseSelectorFallback"):
            found["topic_t"], found["topic_a"] = component["threshold"], component["ambiguity_threshold"]
            if component.get("rescue_threshold") is not None:
                found["rescue"] = component["rescue_threshold"]
    return found


def record(parse: Dict[str, Any], expected: str) -> Dict[str, Any]:
    ranking = parse.get("intent_ranking") or []
    selector = ((parse.get("response_selector") or {}).get("faq") or {}).get("ranking") or []
    return {
        "text": parse.get("text"),
        "expected": expected,
        "intent": [(r["name"], r["confidence"]) for r in ranking[:2]],
        "topics": [(r["intent_response_key"], r["confidence"]) for r in selector[:2]],
    }


def decide(rec: Dict[str, Any], t: Dict[str, float]) -> str:
    """The label after both fallbacks, as the pipeline would give it."""
    intents = rec["intent"]
    top_name, top_conf = intents[0]
    second = intents[1][1] if len(intents) > 1 else 0.0
    if top_conf < t["intent_t"] or top_conf - second < t["intent_a"]:
        # The topic guard's rescue: an unsure intent, but a very sure topic (when configured).
        rescue = t.get("rescue")
        if rescue is not None and rec["topics"] and rec["topics"][0][1] >= rescue:
            return rec["topics"][0][0]
        return "nlu_fallback"
    if top_name != "faq":
        return top_name
    topics = rec["topics"]
    if not topics:
        return "nlu_fallback"
    best_key, best = topics[0]
    runner_up = topics[1][1] if len(topics) > 1 else 0.0
    if best < t["topic_t"] or best - runner_up < t["topic_a"]:
        return "nlu_fallback"
    return best_key


def score(records: List[Dict[str, Any]], t: Dict[str, float]) -> Dict[str, float]:
    topic = [r for r in records if r["expected"].startswith("faq/")]
    off = [r for r in records if r["expected"] == "out_of_scope"]
    other = [r for r in records if r not in topic and r not in off]
    topic_ok = sum(decide(r, t) == r["expected"] for r in topic)
    off_ok = sum(decide(r, t) in NOT_ANSWERED for r in off)
    other_ok = sum(decide(r, t) == r["expected"] for r in other)
    return {
        "topic": topic_ok / len(topic),
        "off_topic": off_ok / len(off) if off else 1.0,
        "other": other_ok / len(other) if other else 1.0,
    }


async def parse_all(model: Path, messages) -> List[Dict[str, Any]]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return [record(await agent.parse_message(m.get("text")), label_of(m)) for m in messages]


def cross_validate(config_path: Path, folds: int) -> List[Dict[str, Any]]:
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    files = sorted((ROOT / "data" / "faq").glob("*.yml")) + sorted((ROOT / "data" / "nlu").glob("*.yml"))
    data = TrainingData().merge(*[load_data(str(f)) for f in files])
    examples = [m for m in data.training_examples if m.get("text")]
    buckets = stratified_folds(examples, folds)
    config = zero_thresholds(yaml.safe_load(config_path.read_text()))
    records: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        (tmp_dir / "config.yml").write_text(yaml.safe_dump(config))
        for index in range(folds):
            train = [m for i, bucket in enumerate(buckets) if i != index for m in bucket]
            fold_data = TrainingData(
                train, responses=data.responses, lookup_tables=data.lookup_tables, regex_features=data.regex_features
            )
            nlu_file = tmp_dir / f"fold{index}.yml"
            nlu_file.write_text(fold_data.nlu_as_yaml())
            started = time.monotonic()
            model = train_nlu(
                str(tmp_dir / "config.yml"),
                str(nlu_file),
                str(tmp_dir / "models"),
                fixed_model_name=f"fold{index}",
            )
            print(f"  fold {index + 1}/{folds} trained in {time.monotonic() - started:.0f}s", flush=True)
            records += asyncio.run(parse_all(Path(model), buckets[index]))
    return records


def grid(records: List[Dict[str, Any]], rescue: Optional[float] = None) -> List[Dict[str, Any]]:
    rows = []
    for it, ia, tt, ta in itertools.product(
        [0.0, 0.3, 0.4, 0.5, 0.6], [0.0, 0.05, 0.1], [0.0, 0.2, 0.3, 0.4, 0.5, 0.6], [0.0, 0.05, 0.1, 0.15]
    ):
        t = {"intent_t": it, "intent_a": ia, "topic_t": tt, "topic_a": ta}
        scored = score(records, {**t, "rescue": rescue} if rescue is not None else t)
        rows.append({**t, **scored})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    out_dir = ROOT / "results" / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    for config_path in args.configs:
        print(f"== {config_path}", flush=True)
        started = time.monotonic()
        records = cross_validate(config_path, args.folds)
        (out_dir / f"{config_path.stem}.json").write_text(json.dumps(records))
        configured = thresholds_in(yaml.safe_load(config_path.read_text()))
        at_config = score(records, configured)
        topic_records = [r for r in records if r["expected"].startswith("faq/")]
        selector_alone = sum(bool(r["topics"]) and r["topics"][0][0] == r["expected"] for r in topic_records)
        print(f"  topic selector alone (no fallbacks, any intent): {selector_alone / len(topic_records):.1%}")
        print(f"  at config thresholds {configured}: " + ", ".join(f"{k} {v:.1%}" for k, v in at_config.items()))
        if "rescue" in configured:
            without = score(records, {k: v for k, v in configured.items() if k != "rescue"})
            print("  the same without the topic rescue: " + ", ".join(f"{k} {v:.1%}" for k, v in without.items()))
        # The frontier: for each off-topic level, the best topic accuracy reachable.
        rows = sorted(grid(records, configured.get("rescue")), key=lambda r: (-r["off_topic"], -r["topic"]))
        best_topic = -1.0
        for row in rows:
            if row["topic"] > best_topic:
                best_topic = row["topic"]
                print(
                    "  frontier: "
                    + ", ".join(f"{k}={v:.2f}" if k.endswith(("_t", "_a")) else f"{k} {v:.1%}" for k, v in row.items())
                )
        print(f"  ({time.monotonic() - started:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
