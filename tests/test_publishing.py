"""Publishing's parts on their own: the publishes and file versions the console keeps, the data
folder's snapshot and restore that Undo uses, the diffs the pages show, and the publisher
refusing a broken topic file before any training. The whole path through the real processes is in
test_console_publish_server.py and test_console_publish_browser.py."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from clinic.console_records import ConsoleRecords, PublishRunning, text_digest
from clinic.topic_files import StaleVersion, TopicEditError, TopicFiles
from console.publishing import file_diffs, record_baseline
from runtime import publish
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def records(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'console.db'}")
    yield ConsoleRecords(engine).create_tables()
    engine.dispose()


@pytest.fixture
def data(tmp_path):
    shutil.copytree(ROOT / "data", tmp_path / "data")
    return tmp_path / "data"


def test_one_publish_runs_at_a_time_and_each_text_is_kept_once(records):
    first = records.start_publish(T0, "anna", {"faq/a.yml": "A", "faq/b.yml": "B"})
    with pytest.raises(PublishRunning) as running:
        records.start_publish(T0, "bob", {"faq/a.yml": "A"})
    assert running.value.id == first
    records.finish_publish(first, T0 + timedelta(seconds=9), "published", fingerprint="f1", seconds={"train": 2.5})
    second = records.start_publish(T0 + timedelta(minutes=1), "bob", {"faq/a.yml": "A", "faq/b.yml": "B2"})
    with records.engine.connect() as connection:
        kept = connection.execute(sa.text("SELECT digest FROM console_file_versions")).scalars().all()
    assert sorted(kept) == sorted(text_digest(text) for text in ("A", "B", "B2"))
    assert records.texts(records.publish(second).files) == {"faq/a.yml": "A", "faq/b.yml": "B2"}
    assert records.live_before().id == first and records.live_before(first) is None
    assert records.interrupt_running(T0 + timedelta(minutes=2)) == 1
    interrupted = records.publish(second)
    assert interrupted.state == "interrupted" and interrupted.finished is not None
    assert records.publish(first).seconds == {"train": 2.5}


def test_the_baseline_is_the_files_as_first_found_and_is_recorded_once(records, data):
    files = TopicFiles(data)
    baseline = record_baseline(records, files, T0)
    assert baseline.state == "baseline" and records.texts(baseline.files) == files.snapshot()
    (data / "faq" / "needles.yml").write_text((data / "faq" / "needles.yml").read_text() + "\n")
    assert record_baseline(records, files, T0 + timedelta(hours=1)).id == baseline.id


def test_restore_writes_all_or_nothing_and_names_a_file_changed_since(data):
    files = TopicFiles(data)
    needles = (data / "faq" / "needles.yml").read_text()
    others = {path: text for path, text in files.snapshot().items() if path != "faq/needles.yml"}
    changed = needles.replace("responses:", "# changed\nresponses:")
    (data / "faq" / "needles.yml").write_text(changed)
    with pytest.raises(StaleVersion) as stale:
        files.restore({"faq/needles.yml": needles, "faq/extra.yml": None}, {"faq/needles.yml": "something else"})
    assert "data/faq/needles.yml was changed after that publish" in str(stale.value)
    assert (data / "faq" / "needles.yml").read_text() == changed
    (data / "faq" / "extra.yml").write_text("nlu: []\n")
    files.restore(
        {"faq/needles.yml": needles, "faq/extra.yml": None}, {"faq/needles.yml": changed, "faq/extra.yml": "nlu: []\n"}
    )
    assert (data / "faq" / "needles.yml").read_text() == needles and not (data / "faq" / "extra.yml").exists()
    assert {path: text for path, text in files.snapshot().items() if path != "faq/needles.yml"} == others
    with pytest.raises(TopicEditError):
        files.restore({"../../etc/passwd.yml": "x"}, {"../../etc/passwd.yml": None})


def test_the_diffs_mark_a_file_no_console_change_touched():
    diffs = file_diffs(
        {"faq/a.yml": "one\ntwo\n", "faq/b.yml": "x\n"},
        {"faq/a.yml": "one\nthree\n", "faq/b.yml": "x\n", "faq/c.yml": "new\n"},
        console_paths={"faq/a.yml"},
    )
    assert [(d.path, d.state, d.by_hand) for d in diffs] == [
        ("faq/a.yml", "changed", False),
        ("faq/c.yml", "added", True),
    ]
    assert "-two" in diffs[0].lines and "+three" in diffs[0].lines


def test_a_broken_topic_file_fails_the_first_step_and_leaves_the_model_alone(data, tmp_path):
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"the model visitors get")
    path = data / "faq" / "needles.yml"
    path.write_text(path.read_text().split("responses:")[0] + "responses: {}\n")
    told = []
    result = publish.publish({"id": 3, "data": str(data), "model": str(model)}, told.append)
    assert result["result"] == "failed" and result["step"] == "topics"
    assert "needles.yml:" in result["detail"]
    assert [(m["step"], m["state"]) for m in told] == [("topics", "running"), ("topics", "failed")]
    assert model.read_bytes() == b"the model visitors get"
    assert list(tmp_path.glob(".publishing-*")) == []
    json.dumps(result)  # what the console reads back is plain JSON
