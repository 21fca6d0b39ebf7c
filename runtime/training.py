"""Training that reuses every trained NLU component when only an answer changed.

Why: Rasa copies the FAQ answers (the ``utter_faq/<topic>`` responses) into the NLU
training data, and the fingerprint of that data covers them. Rasa's training cache
keys each component on the fingerprints of its inputs, so editing one answer made
every NLU component miss the cache and the whole pipeline retrained: as long as a
cold training (docs/decisions/speed.md). No NLU component here learns from the
answers' wording: the classifiers learn from the visitors' questions, and
``utter_faq`` takes the answer from the domain by name at run time.

What: ``python -m runtime.train [rasa train options]`` (what ``make train`` runs)
turns ``config.yml`` into the same graph Rasa's default recipe builds from it,
with one node changed: the NLU training data comes from
``NLUTrainingDataWithoutAnswers``, which hands the pipeline the visitors'
examples without the answers. The graph is written to ``.rasa/config.graph.yml``
(a build product, like the model) and trained with Rasa's own graph recipe
(``recipe: graph.v1``). ``config.yml`` stays the one file to read and edit; a
plain ``rasa train`` still works and trains the same components, only without
this saving. The domain the model keeps, and so every answer, is unchanged.

Then the fixed cost of every training (reading and checking the data, twice) was most of
a retraining. In this process only: ``rasa train``'s validation and training share one
importer (``one_importer_per_project``), which reads each file once
(``FileImporterReadingOnce``), takes unchanged NLU files' parsed examples from Rasa's
training cache (``read_nlu_file``), and gives Rasa's merges examples that copy quickly
(``QuickCopyMessage``). tests/test_training.py checks each against Rasa's own.
"""

from __future__ import annotations

import copy
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Text

from rasa.graph_components.providers.nlu_training_data_provider import NLUTrainingDataProvider
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.structures import StoryGraph
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.importers.rasa import RasaFileImporter
from rasa.shared.nlu.constants import RESPONSE
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

GRAPH_CONFIG = Path(".rasa") / "config.graph.yml"

# What this relies on in Rasa (runtime/internals.py checks it before training).
RELIES_ON = {
    "rasa.graph_components.providers.nlu_training_data_provider:NLUTrainingDataProvider.provide": "6094aac91c19cd78",
    "rasa.shared.importers.importer:TrainingDataImporter.load_from_config": "0872e0e0d07c1dfa",
    "rasa.shared.importers.rasa:RasaFileImporter": "3bc1790ccbcca395",
    "rasa.shared.nlu.training_data.message:Message": "081678a8e285fe22",
    "rasa.engine.caching:LocalTrainingCache._get_cache_location": "efcc9dab9e5a30c3",
    "rasa.shared.nlu.training_data.loading:load_data": "044e4b58a302044a",
}
DATA_PROVIDER_NODE = "nlu_training_data_provider"


def without_answers(data: TrainingData) -> TrainingData:
    """The same training data without the answers: no ``responses``, and no example
    carrying its answer's text (Rasa sets it on each FAQ question as ``response``)."""
    examples = [
        Message(
            data={key: value for key, value in example.data.items() if key != RESPONSE},
            output_properties=set(example.output_properties),
            features=list(example.features),
        )
        for example in data.training_examples
    ]
    return TrainingData(
        training_examples=examples,
        entity_synonyms=copy.deepcopy(data.entity_synonyms),
        regex_features=copy.deepcopy(data.regex_features),
        lookup_tables=copy.deepcopy(data.lookup_tables),
    )


class NLUTrainingDataWithoutAnswers(NLUTrainingDataProvider):
    """Rasa's NLU training data provider, handing on the data without the answers."""

    def provide(self, importer: TrainingDataImporter) -> TrainingData:
        return without_answers(super().provide(importer))


def _snapshot(paths: List[str]) -> tuple:
    """What identifies the contents of ``paths`` (files, or folders of files) cheaply."""
    files: List[Path] = []
    for path in map(Path, paths):
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return tuple((str(f), *_stat(f)) for f in files)


def _stat(path: Path) -> tuple:
    """A file's modification time and size (one system call), or (None, None) when it is missing."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None, None
    return status.st_mtime_ns, status.st_size


_IMMUTABLE = (str, int, float, bool, type(None))


class QuickCopyMessage(Message):
    """A training example that Rasa's importers copy and fingerprint quickly.

    Rasa's importers merge the NLU data three times per training, and each merge deep-copies
    every example and fingerprints it again (``TrainingData`` re-sets each intent, which
    throws the example's fingerprint away): about a second for this project's 3,400
    examples, twice per ``rasa train``. This example copies itself field by field (strings
    and numbers are shared, as ``copy.deepcopy`` shares them; everything else is deep-copied)
    and keeps its fingerprint when a field is set to the string it already holds. What a copy
    holds, and every fingerprint, is what Rasa's ``Message`` gives (tests/test_training.py).
    """

    def set(self, prop: Text, info: Any, add_to_output: bool = False) -> None:
        fingerprint = self._cached_fingerprint
        unchanged = isinstance(info, str) and type(self.data.get(prop)) is str and self.data.get(prop) == info
        super().set(prop, info, add_to_output)
        if unchanged:
            self._cached_fingerprint = fingerprint

    def __deepcopy__(self, memo: Dict[int, Any]) -> "QuickCopyMessage":
        copied = QuickCopyMessage.__new__(QuickCopyMessage)
        memo[id(self)] = copied
        for name, value in self.__dict__.items():
            if name == "data":
                value = {
                    key: item if type(item) in _IMMUTABLE else copy.deepcopy(item, memo) for key, item in value.items()
                }
            elif type(value) not in _IMMUTABLE:
                value = copy.deepcopy(value, memo)
            copied.__dict__[name] = value
        return copied


class FileImporterReadingOnce(RasaFileImporter):
    """Rasa's file importer, reading each set of files once per process.

    ``rasa train`` loads the data once to validate it and again to train, and
    Rasa's importer re-reads the domain and the data files on each request
    (the stories ask for the domain again): about a third of a retraining here,
    with three dozen data files, each YAML-checked on every read. This keeps what was
    read, keyed on the files' names, sizes and modification times, for the rest
    of the process (one ``rasa train``); a file changed in between is read again.
    """

    _read: Dict[Any, Any] = {}

    def _once(self, key: Any, paths: List[str], read: Any) -> Any:
        key = (key, _snapshot(paths))
        if key not in self._read:
            self._read[key] = read()
        return self._read[key]

    def get_domain(self) -> Domain:
        return self._once("domain", [self._domain_path] if self._domain_path else [], super().get_domain)

    def get_nlu_data(self, language: Optional[str] = "en") -> TrainingData:
        return self._once(("nlu", language), self._nlu_files, lambda: self._read_nlu_data(language))

    def _read_nlu_data(self, language: Optional[str]) -> TrainingData:
        """What Rasa's importer reads (each file loaded, then merged in order), each file
        read through ``read_nlu_file``."""
        used: set = set()
        data = TrainingData().merge(*(read_nlu_file(Path(path), language, used) for path in self._nlu_files))
        forget_parsed_files(except_for=used)
        return data

    def get_stories(self, exclusion_percentage: Optional[int] = None) -> StoryGraph:
        paths = self._story_files + ([self._domain_path] if self._domain_path else [])
        return self._once(
            ("stories", exclusion_percentage),
            paths,
            lambda: super(FileImporterReadingOnce, self).get_stories(exclusion_percentage),
        )

    def get_conversation_tests(self) -> StoryGraph:
        paths = self._conversation_test_files + ([self._domain_path] if self._domain_path else [])
        return self._once("tests", paths, super().get_conversation_tests)


PARSED_FOLDER = "clinic-parsed-nlu"  # in Rasa's training cache, so a cold training starts without it


def parsed_folder() -> Path:
    from rasa.engine.caching import LocalTrainingCache

    return LocalTrainingCache._get_cache_location() / PARSED_FOLDER


def forget_parsed_files(except_for: set) -> None:
    """Removes the kept files of earlier versions (one per NLU file stays)."""
    try:
        kept = list(parsed_folder().glob("*.json"))
    except OSError:
        return
    for stale in kept:
        if stale.stem not in except_for:
            stale.unlink(missing_ok=True)


def read_nlu_file(path: Path, language: Optional[str], used: Optional[set] = None) -> TrainingData:
    """One NLU file as Rasa loads it (``loading.load_data``), with ``QuickCopyMessage`` examples.

    Rasa checks every YAML file against its schema, reading it twice, on every training:
    most of the reading time. A file's parsed examples are kept in Rasa's training cache
    folder (``RASA_CACHE_DIRECTORY``) as JSON under a digest of the file's bytes, Rasa's
    version and the language: a file with the same bytes was checked and parsed before, and
    is read back from there. Anything that does not survive JSON unchanged is not kept.
    """
    import hashlib
    import json

    import rasa
    from rasa.shared.nlu.training_data import loading

    content = path.read_bytes()
    digest = hashlib.sha256(b"\0".join([content, rasa.__version__.encode(), str(language).encode()])).hexdigest()
    if used is not None:
        used.add(digest)
    stored = parsed_folder() / f"{digest}.json"
    try:
        parsed = json.loads(stored.read_text())
    except (OSError, ValueError):
        parsed = None
    if parsed is None:
        data = loading.load_data(str(path), language)
        parsed = {
            "examples": [
                {"data": example.data, "output_properties": sorted(example.output_properties), "time": example.time}
                for example in data.training_examples
            ],
            "entity_synonyms": data.entity_synonyms,
            "regex_features": data.regex_features,
            "lookup_tables": data.lookup_tables,
            "responses": data.responses,
        }
        text = json.dumps(parsed, sort_keys=True)
        if json.loads(text) == parsed and not any(example.features for example in data.training_examples):
            stored.parent.mkdir(parents=True, exist_ok=True)
            partial = stored.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(text)
            partial.replace(stored)  # whole or not at all
    examples = [
        QuickCopyMessage(
            data=example["data"], output_properties=set(example["output_properties"]), time=example["time"]
        )
        for example in parsed["examples"]
    ]
    return TrainingData(
        examples, parsed["entity_synonyms"], parsed["regex_features"], parsed["lookup_tables"], parsed["responses"]
    )


NODE_DEFAULTS = {"eager": False, "is_target": False, "is_input": False}  # (Rasa needs "resource" written)


def compact(schema: Dict[str, Any]) -> Dict[str, Any]:
    """A serialised graph schema without the fields left at ``SchemaNode``'s defaults: Rasa
    reads and checks the configuration file several times per training."""
    return {
        "nodes": {
            name: {
                key: value for key, value in node.items() if not (key in NODE_DEFAULTS and value == NODE_DEFAULTS[key])
            }
            for name, node in schema["nodes"].items()
        }
    }


def graph_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """The graph-recipe configuration equal to Rasa's default recipe for ``config``
    (a parsed ``config.yml``), with the NLU training data provider replaced."""
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.shared.data import TrainingType

    model = DefaultV1Recipe().graph_config_for_recipe(copy.deepcopy(config), {}, TrainingType.BOTH)
    provider = model.train_schema.nodes[DATA_PROVIDER_NODE]
    if provider.uses is not NLUTrainingDataProvider:  # a Rasa upgrade changed the graph: look again
        raise RuntimeError(f"unexpected {DATA_PROVIDER_NODE} in Rasa's default graph: {provider.uses}")
    provider.uses = NLUTrainingDataWithoutAnswers
    graph = {
        "recipe": "graph.v1",
        "importers": [{"name": f"{FileImporterReadingOnce.__module__}.{FileImporterReadingOnce.__name__}"}],
        "language": model.language,
        "assistant_id": model.assistant_id,
        "core_target": model.core_target,
        "nlu_target": model.nlu_target,
        "train_schema": compact(model.train_schema.as_dict()),
        "predict_schema": compact(model.predict_schema.as_dict()),
    }
    if model.spaces:
        graph["spaces"] = model.spaces
    return graph


def write_graph_config(config_file: Path, out: Path = GRAPH_CONFIG) -> Path:
    """Writes the graph configuration for ``config_file`` to ``out``."""
    import rasa.shared.utils.io

    config = rasa.shared.utils.io.read_model_configuration(config_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Generated from {config_file} by runtime/training.py; edit {config_file}, not this file.\n"
    out.write_text(header + rasa.shared.utils.io.dump_obj_as_yaml_to_string(graph_config(config)))
    return out


def main(arguments: List[str]) -> int:
    """``python -m runtime.train [rasa train options]``: trains ``config.yml`` (or
    ``--config FILE``) through the graph above, in this one process."""
    from rasa.__main__ import main as rasa_main

    config_file = "config.yml"
    rest = list(arguments)
    if "--config" in rest:
        index = rest.index("--config")
        config_file = rest[index + 1]
        del rest[index : index + 2]
    write_graph_config(Path(config_file))
    sys.argv = ["rasa", "train", "--config", str(GRAPH_CONFIG), *rest]
    with one_importer_per_project():
        rasa_main()
    return 0


@contextmanager
def one_importer_per_project() -> Iterator[None]:
    """While training: ``rasa train`` makes one importer to validate the data and another
    to train on it, each wrapping the files in Rasa's own importers that merge and copy
    all the examples again (a tenth of a retraining). Within this process, asking again
    for the same project's importer returns the first, with what it already read. Only
    for the graph configuration written above, whose importer is ``FileImporterReadingOnce``
    and takes no other arguments (the extra arguments Rasa passes are for importers that do)."""
    original = TrainingDataImporter.__dict__["load_from_config"]
    made: Dict[Any, TrainingDataImporter] = {}

    def load_from_config(
        config_path: str, domain_path: Optional[str] = None, training_data_paths: Any = None, args: Any = None
    ) -> TrainingDataImporter:
        if Path(config_path) != GRAPH_CONFIG:
            return original.__func__(config_path, domain_path, training_data_paths, args or {})
        paths = [training_data_paths] if isinstance(training_data_paths, str) else list(training_data_paths or [])
        key = (str(domain_path), tuple(sorted(map(str, paths))))
        if key not in made:
            made[key] = original.__func__(config_path, domain_path, training_data_paths, args or {})
        return made[key]

    TrainingDataImporter.load_from_config = staticmethod(load_from_config)  # type: ignore[assignment]
    try:
        yield
    finally:
        TrainingDataImporter.load_from_config = original  # type: ignore[assignment]
