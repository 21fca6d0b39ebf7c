"""runtime/training.py: the graph `make train` trains is Rasa's default graph for config.yml
with one node changed, the NLU data it hands on does not depend on the answers' wording, and
the importer reads each set of files once. (tests/test_staff_guide.py retrains after an edited
answer end to end: no component retrains and the new answer is served.)"""

from __future__ import annotations

import copy
import shutil

import pytest
import rasa.shared.utils.io
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.graph_components.providers.nlu_training_data_provider import NLUTrainingDataProvider
from rasa.shared.data import TrainingType
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.constants import RESPONSE
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message

from runtime.training import (
    DATA_PROVIDER_NODE,
    FileImporterReadingOnce,
    NLUTrainingDataWithoutAnswers,
    QuickCopyMessage,
    graph_config,
    without_answers,
    write_graph_config,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

NLU = """version: "3.1"
nlu:
- intent: faq/does_it_hurt
  examples: |
    - does it hurt
    - is it painful
- intent: greet
  examples: |
    - hello
responses:
  utter_faq/does_it_hurt:
  - text: {answer}
"""


def data_with(answer: str):
    return RasaYAMLReader().reads(NLU.format(answer=answer))


def test_the_data_handed_on_does_not_depend_on_the_answers():
    first, second = data_with("A little."), data_with("Hardly at all.")
    assert first.fingerprint() != second.fingerprint()  # why an edited answer retrained everything
    assert any(example.get(RESPONSE) == "A little." for example in first.training_examples)

    kept = without_answers(first)
    assert kept.fingerprint() == without_answers(second).fingerprint()
    assert kept.responses == {}
    assert all(example.get(RESPONSE) is None for example in kept.training_examples)
    assert [(e.get("text"), e.get("intent"), e.get("intent_response_key")) for e in kept.training_examples] == [
        (e.get("text"), e.get("intent"), e.get("intent_response_key")) for e in first.training_examples
    ]
    assert kept.retrieval_intents == {"faq"}
    assert first.responses  # the input is left as it was


def nodes(schema):
    """A schema's nodes, fields at their defaults filled in, without the random placeholder
    fingerprints Rasa gives each resource."""
    defaults = {"eager": False, "is_target": False, "is_input": False}
    return {
        name: {**defaults, **node, "resource": node["resource"] and node["resource"]["name"]}
        for name, node in schema["nodes"].items()
    }


def test_the_graph_is_rasas_default_graph_with_the_provider_changed():
    config = rasa.shared.utils.io.read_model_configuration(ROOT / "config.yml")
    ours = graph_config(config)
    rasas = DefaultV1Recipe().graph_config_for_recipe(copy.deepcopy(config), {}, TrainingType.BOTH)

    assert ours["recipe"] == "graph.v1"
    assert nodes(ours["predict_schema"]) == nodes(rasas.predict_schema.as_dict())
    assert (ours["core_target"], ours["nlu_target"]) == (rasas.core_target, rasas.nlu_target)
    train, expected = nodes(ours["train_schema"]), nodes(rasas.train_schema.as_dict())
    assert set(train) == set(expected)
    changed = {name for name in train if train[name] != expected[name]}
    assert changed == {DATA_PROVIDER_NODE}
    assert expected[DATA_PROVIDER_NODE]["uses"].endswith(NLUTrainingDataProvider.__name__)
    assert train[DATA_PROVIDER_NODE]["uses"] == "runtime.training.NLUTrainingDataWithoutAnswers"
    assert {**train[DATA_PROVIDER_NODE], "uses": None} == {**expected[DATA_PROVIDER_NODE], "uses": None}


def test_the_written_graph_loads_with_rasas_graph_recipe_and_the_importer(tmp_path):
    out = write_graph_config(ROOT / "config.yml", tmp_path / "config.graph.yml")
    importer = TrainingDataImporter.load_from_config(str(out), str(ROOT / "domain.yml"), [str(ROOT / "data")])
    model = importer.get_config()
    assert model["recipe"] == "graph.v1"
    from rasa.engine.recipes.recipe import Recipe

    graph = Recipe.recipe_for_name("graph.v1").graph_config_for_recipe(model, {}, TrainingType.BOTH)
    assert graph.train_schema.nodes[DATA_PROVIDER_NODE].uses is NLUTrainingDataWithoutAnswers
    nlu = importer.get_nlu_data()
    assert "faq" in nlu.retrieval_intents and nlu.responses  # Rasa's own importer chain still adds them;
    provided = NLUTrainingDataWithoutAnswers.create({"language": "en", "persist": False}, None, None, None)
    assert provided.provide(importer).responses == {}  # the provider drops them


def project(tmp_path, answer: str):
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "nlu.yml").write_text(NLU.format(answer=answer))
    (tmp_path / "domain.yml").write_text('version: "3.1"\nintents:\n- greet\n- faq\n')
    return lambda: FileImporterReadingOnce(None, str(tmp_path / "domain.yml"), [str(tmp_path / "data")])


def test_the_importer_reads_each_set_of_files_once_until_one_changes(tmp_path):
    importer = project(tmp_path, "A little.")
    first, second = importer(), importer()
    read = first.get_nlu_data()
    assert second.get_nlu_data() is read
    assert first.get_domain() is second.get_domain()
    assert first.get_stories() is second.get_stories()

    project(tmp_path, "Hardly at all, as a rule.")  # a different size: read again
    again = importer().get_nlu_data()
    assert again is not read
    assert again.responses["utter_faq/does_it_hurt"][0]["text"] == "Hardly at all, as a rule."
    assert first.get_nlu_data() is again  # every importer sees the file as it is now


def test_the_data_read_through_the_parsed_files_is_rasas(tmp_path, monkeypatch):
    """Read cold (YAML, checked) and warm (the kept JSON): the same examples and fingerprint
    as Rasa's own importer; an edited file is read from its YAML again; old versions go."""
    from rasa.shared.importers.rasa import RasaFileImporter

    from runtime.training import PARSED_FOLDER

    monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / "cache"))
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    rasas = RasaFileImporter(None, None, [str(data)]).get_nlu_data()

    def ours():
        FileImporterReadingOnce._read.clear()  # a new process
        return FileImporterReadingOnce(None, None, [str(data)]).get_nlu_data()

    cold = ours()
    kept = sorted((tmp_path / "cache" / PARSED_FOLDER).glob("*.json"))
    assert (
        len(kept)
        == len(list(data.rglob("*.yml")))
        - len(list((data / "rules").glob("*.yml")))
        - len(list((data / "stories").glob("*.yml")))
        > 20
    )
    warm = ours()
    for read in (cold, warm):
        assert read.fingerprint() == rasas.fingerprint()
        assert [e.data for e in read.training_examples] == [e.data for e in rasas.training_examples]
        assert read.responses == rasas.responses and read.entity_synonyms == rasas.entity_synonyms

    topic = data / "faq" / "does_it_hurt.yml"
    topic.write_text(topic.read_text().replace("does it hurt", "does the needle hurt", 1))
    edited = ours()
    assert "does the needle hurt" in {e.get("text") for e in edited.training_examples}
    assert edited.fingerprint() == RasaFileImporter(None, None, [str(data)]).get_nlu_data().fingerprint()
    assert len(list((tmp_path / "cache" / PARSED_FOLDER).glob("*.json"))) == len(kept)  # the old version went


def test_a_quick_copy_is_a_deep_copy_with_the_same_fingerprint():
    original = QuickCopyMessage(
        data={
            "text": "does it hurt",
            "intent": "faq",
            "metadata": {"intent": {"label": "x"}},
            "entities": [{"entity": "day", "value": "monday"}],
        }
    )
    fingerprint = original.fingerprint()
    copied = copy.deepcopy(original)
    assert type(copied) is QuickCopyMessage and copied.data == original.data
    assert copied.fingerprint() == fingerprint == Message(data=original.data).fingerprint()
    copied.data["entities"][0]["value"] = "tuesday"
    copied.data["metadata"]["intent"]["label"] = "y"
    assert original.data["entities"][0]["value"] == "monday" and original.data["metadata"]["intent"]["label"] == "x"

    same = copy.deepcopy(original)
    same.set("intent", "faq")  # what Rasa's TrainingData does to every example
    assert same._cached_fingerprint == fingerprint
    same.set("intent", "greet")
    assert same.fingerprint() == Message(data={**original.data, "intent": "greet"}).fingerprint() != fingerprint


def test_one_importer_per_project_while_training(tmp_path):
    from runtime.training import GRAPH_CONFIG, one_importer_per_project

    write_graph_config(ROOT / "config.yml", GRAPH_CONFIG)
    arguments = (str(GRAPH_CONFIG), str(ROOT / "domain.yml"), [str(ROOT / "data")])
    with one_importer_per_project():
        first = TrainingDataImporter.load_from_config(*arguments)
        assert TrainingDataImporter.load_from_config(*arguments, {"augmentation_factor": 50}) is first
        assert (
            TrainingDataImporter.load_from_config(str(GRAPH_CONFIG), str(ROOT / "domain.yml"), [str(tmp_path)])
            is not first
        )  # another project
        other = str(ROOT / "config.yml")
        assert TrainingDataImporter.load_from_config(
            other, *arguments[1:]
        ) is not TrainingDataImporter.load_from_config(other, *arguments[1:])  # not our graph: Rasa's way
    assert TrainingDataImporter.load_from_config(*arguments) is not first  # and only while training
