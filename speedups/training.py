"""Training that reuses every trained NLU component when only an answer changed (issue 7).

Why: Rasa copies the FAQ answers (the ``utter_faq/<topic>`` responses) into the NLU
training data, and the fingerprint of that data covers them. Rasa's training cache
keys each component on the fingerprints of its inputs, so editing one answer made
every NLU component miss the cache and the whole pipeline retrained: as long as a
cold training (docs/notes/issue-7.md). No NLU component here learns from the
answers' wording: the classifiers learn from the visitors' questions, and
``utter_faq`` takes the answer from the domain by name at run time.

What: ``python -m speedups.train [rasa train options]`` (what ``make train`` runs)
turns ``config.yml`` into the same graph Rasa's default recipe builds from it,
with one node changed: the NLU training data comes from
``NLUTrainingDataWithoutAnswers``, which hands the pipeline the visitors'
examples without the answers. The graph is written to ``.rasa/config.graph.yml``
(a build product, like the model) and trained with Rasa's own graph recipe
(``recipe: graph.v1``). ``config.yml`` stays the one file to read and edit; a
plain ``rasa train`` still works and trains the same components, only without
this saving. The domain the model keeps, and so every answer, is unchanged.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from rasa.graph_components.providers.nlu_training_data_provider import NLUTrainingDataProvider
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.structures import StoryGraph
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.importers.rasa import RasaFileImporter
from rasa.shared.nlu.constants import RESPONSE
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

GRAPH_CONFIG = Path(".rasa") / "config.graph.yml"
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
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else (str(f), None, None) for f in files)


class FileImporterReadingOnce(RasaFileImporter):
    """Rasa's file importer, reading each set of files once per process.

    ``rasa train`` loads the data once to validate it and again to train, and
    Rasa's importer re-reads the domain and the data files on each request
    (the stories ask for the domain again): about a third of a retraining here,
    with a hundred data files, each YAML-checked on every read. This keeps what was
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
        return self._once(("nlu", language), self._nlu_files, lambda: super(FileImporterReadingOnce, self).get_nlu_data(language))

    def get_stories(self, exclusion_percentage: Optional[int] = None) -> StoryGraph:
        paths = self._story_files + ([self._domain_path] if self._domain_path else [])
        return self._once(
            ("stories", exclusion_percentage), paths,
            lambda: super(FileImporterReadingOnce, self).get_stories(exclusion_percentage),
        )

    def get_conversation_tests(self) -> StoryGraph:
        paths = self._conversation_test_files + ([self._domain_path] if self._domain_path else [])
        return self._once("tests", paths, super().get_conversation_tests)


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
        "train_schema": model.train_schema.as_dict(),
        "predict_schema": model.predict_schema.as_dict(),
    }
    if model.spaces:
        graph["spaces"] = model.spaces
    return graph


def write_graph_config(config_file: Path, out: Path = GRAPH_CONFIG) -> Path:
    """Writes the graph configuration for ``config_file`` to ``out``."""
    import rasa.shared.utils.io

    config = rasa.shared.utils.io.read_model_configuration(config_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Generated from {config_file} by speedups/training.py; edit {config_file}, not this file.\n"
    out.write_text(header + rasa.shared.utils.io.dump_obj_as_yaml_to_string(graph_config(config)))
    return out


def main(arguments: List[str]) -> int:
    """``python -m speedups.train [rasa train options]``: trains ``config.yml`` (or
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
    rasa_main()
    return 0

