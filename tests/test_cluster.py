"""A clinic group: two Rasa servers behind nginx sharing PostgreSQL and Redis (docs/deployment.md).

Everything is real and on loopback: PostgreSQL (conversations and bookings), Redis (one lock
per conversation), two action servers, two Rasa servers started with
deploy/endpoints.cluster.yml, nginx with deploy/nginx/clinic-assistant.conf and a local
HTTP server standing in for the clinic's booking endpoint. Visitors talk to nginx only.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Dict, List, Tuple

import pytest
from sqlalchemy import create_engine, text

from tests.cluster import Cluster, missing_packages
from tests.conftest import MODEL_PATH, ROOT
from tools.console_http import PASSWORD, Client
from tools.servers import BIN, wait_until

pytestmark = pytest.mark.system

SECRET = "cluster-webhook-secret-0123456789a"
REFERENCE = re.compile(r"\bDN-[2-9A-HJKMNP-Z]{5}\b")
PHONES = [f"(202) 555-01{n:02d}" for n in range(40, 60)]
NAMES = [
    "Ysolde Marrack",
    "Pell Varnum",
    "Odile Strand",
    "Teodor Quill",
    "Maren Holloway",
    "Ciaran Dusk",
    "Ines Farrow",
    "Bram Oakes",
    "Liesel Wren",
    "Tobiah Crane",
]


@pytest.fixture(scope="module")
def group(tmp_path_factory, clinic):
    missing = missing_packages()
    if missing:
        pytest.fail(f"missing Debian packages {missing}: run `make services` (make test does)")
    if not MODEL_PATH.exists():
        pytest.fail("no trained model: run `make train` (make test does)")
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), MODEL_PATH, clinic.url, SECRET).start()
    cluster.confirmed: Dict[str, str] = {}  # reference -> the server that answered the final yes
    yield cluster
    cluster.stop()


def say(group: Cluster, sender: str, message: str) -> Tuple[str, str]:
    """One visitor message through nginx; returns (the bot's text, the Rasa server that answered)."""
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(
        group.nginx.url + "/webhooks/website/webhook",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            replies, served_by = json.loads(answer.read()), answer.headers["X-Served-By"]
    except urllib.error.HTTPError as failure:
        raise AssertionError(f"{failure.code} for {message!r}: {failure.read()[:300]!r}") from None
    return "\n".join(reply.get("text") or "" for reply in replies), served_by


# The booking conversation, each visitor message with what the bot must say next.
def booking_steps(name: str, phone: str) -> List[Tuple[str, str]]:
    return [
        ("I'd like to book an appointment", "What name"),
        (name, "phone number or email"),
        (phone, "Which day and time"),
        ("next tuesday at 10am", "Do you agree"),
        ("yes", name),
        ("yes", "DN-"),
    ]


def digits(typed: str) -> str:
    """A typed phone number's digits ("(202) 555-0140" -> "2025550140")."""
    return re.sub(r"\D", "", typed)


def upstream(group: Cluster, number: int) -> str:
    return f"127.0.0.1:{group.rasa_ports[number]}"


def bookings(group: Cluster) -> List[Tuple[str, str]]:
    """(reference, phone) of every booking in the shared PostgreSQL store."""
    engine = create_engine(group.postgres.url("clinic_bookings"), future=True)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text("SELECT reference, phone FROM booking_requests"))]
    finally:
        engine.dispose()


def user_texts_in_tracker(group: Cluster, sender: str) -> List[Tuple[str, str]]:
    """(event type, text) of the conversation's user and bot events, in the order stored."""
    engine = create_engine(group.postgres.url("clinic_tracker"), future=True)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT type_name, data FROM events WHERE sender_id = :s AND type_name IN ('user', 'bot') "
                    "ORDER BY id"
                ),
                {"s": sender},
            ).all()
    finally:
        engine.dispose()
    return [(kind, json.loads(data).get("text") or "") for kind, data in rows]


def relation_files_containing(group: Cluster, needle: str) -> List[str]:
    """The files of PostgreSQL's tables, indexes and catalogues holding ``needle`` (pg_wal/ left
    out: docs/privacy.md says how long it keeps deleted rows)."""
    return group.postgres.files_containing(needle)


def staff_sql(group: Cluster, database: str, statement: str) -> None:
    """One statement outside a transaction, as the cluster's superuser (what autovacuum or an
    operator would run)."""
    engine = create_engine(group.postgres.url(database), future=True, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def sampled_columns(group: Cluster, database: str, table: str) -> set:
    """The table's columns whose sample values PostgreSQL keeps in its statistics (pg_stats)."""
    engine = create_engine(group.postgres.url(database), future=True)
    try:
        with engine.connect() as connection:
            query = text("SELECT attname FROM pg_stats WHERE tablename = :t")
            return set(connection.execute(query, {"t": table}).scalars())
    finally:
        engine.dispose()


def staff(group: Cluster, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """`python -m actions.staff ...` against the group's shared PostgreSQL stores."""
    env = dict(
        group.rasa[0].env,
        BOOKINGS_DB_URL=group.postgres.url("clinic_bookings"),
        TRACKER_DB_URL=group.postgres.url("clinic_tracker"),
    )
    return subprocess.run(
        [str(BIN / "python"), "-m", "actions.staff", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_conversation_alternating_between_servers_keeps_its_state(group):
    sender = str(uuid.uuid4())
    served = []
    for message, expected in booking_steps(NAMES[0], PHONES[0]):
        reply, server = say(group, sender, message)
        assert expected in reply, (message, reply)
        served.append(server)
    # nginx's round robin sent the visitor's messages to both servers, turn about.
    assert set(served) == {upstream(group, 0), upstream(group, 1)}, served
    assert all(a != b for a, b in zip(served, served[1:], strict=False)), served
    reference = REFERENCE.search(reply).group(0)
    group.confirmed[reference] = served[-1]


def test_a_burst_from_one_sender_is_answered_in_order(group):
    """All six booking messages sent 0.1 s apart, without waiting for answers: the Redis lock
    makes the two servers take them one at a time, in the order they arrived."""
    sender = str(uuid.uuid4())
    steps = booking_steps(NAMES[1], PHONES[1])
    results: Dict[int, Tuple[str, str]] = {}
    errors: List[BaseException] = []

    def send(index: int, message: str) -> None:
        try:
            results[index] = say(group, sender, message)
        except BaseException as failure:  # noqa: BLE001 - reported below, with the message that failed
            errors.append(failure)

    threads = []
    for index, (message, _) in enumerate(steps):
        thread = threading.Thread(target=send, args=(index, message))
        thread.start()
        threads.append(thread)
        time.sleep(0.1)
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    for index, (message, expected) in enumerate(steps):
        assert expected in results[index][0], (index, message, results[index][0])
    assert {server for _, server in results.values()} == {upstream(group, 0), upstream(group, 1)}
    # The stored conversation: each message followed by its own answer before the next one.
    events = user_texts_in_tracker(group, sender)
    users = [i for i, (kind, _) in enumerate(events) if kind == "user"]
    assert [events[i][1] for i in users] == [message for message, _ in steps]
    for position, index in enumerate(users):
        following = events[index + 1 : users[position + 1] if position + 1 < len(users) else None]
        assert any(steps[position][1] in said for kind, said in following if kind == "bot"), (position, following)
    reference = REFERENCE.search(results[len(steps) - 1][0]).group(0)
    group.confirmed[reference] = results[len(steps) - 1][1]


def test_stopping_one_server_loses_no_conversation(group):
    visitors = [(str(uuid.uuid4()), booking_steps(NAMES[2 + n], PHONES[2 + n])) for n in range(6)]
    for sender, steps in visitors:  # each conversation half-way through, on both servers
        for message, expected in steps[:3]:
            assert expected in say(group, sender, message)[0]
    group.stop_rasa(0)
    try:
        for sender, steps in visitors:
            for message, expected in steps[3:]:
                reply, server = say(group, sender, message)
                assert expected in reply, (message, reply)
                assert server.endswith(f":{group.rasa_ports[1]}")  # tried first at the stopped one, or not at all
            group.confirmed[REFERENCE.search(reply).group(0)] = server
    finally:
        group.start_rasa(0)
    # Back in the group: once nginx's fail_timeout (10 s) has passed, the restarted server
    # answers again, from where the conversations are.
    sender, deadline = str(uuid.uuid4()), time.monotonic() + 40
    served = []
    while upstream(group, 0) not in served and time.monotonic() < deadline:
        reply, server = say(group, sender, "does dry needling hurt?")
        assert "pain" in reply.lower(), reply
        served.append(server)
        time.sleep(0.5)
    assert upstream(group, 0) in served, served


def test_bookings_from_both_servers_land_once(group, clinic):
    """Every confirmed booking is stored once and delivered to the clinic once, though two
    action servers' delivery workers share the PostgreSQL store."""
    assert len(group.confirmed) == 8
    assert set(group.confirmed.values()) == {upstream(group, 0), upstream(group, 1)}
    stored = bookings(group)
    assert sorted(reference for reference, _ in stored) == sorted(group.confirmed)
    assert len({phone for _, phone in stored}) == len(stored)
    deadline = time.monotonic() + 30
    while set(clinic.unique_references()) != set(group.confirmed) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(clinic.unique_references()) == sorted(group.confirmed)
    time.sleep(1.0)  # room for a second copy, were a delivery taken by both workers
    assert sorted(r.reference for r in clinic.received) == sorted(group.confirmed)


def ask_server(group: Cluster, number: int, message: str) -> str:
    """One visitor message straight to one Rasa server (not through nginx); the bot's text."""
    body = json.dumps({"sender": str(uuid.uuid4()), "message": message}).encode()
    request = urllib.request.Request(
        f"http://{upstream(group, number)}/webhooks/website/webhook",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return "\n".join(reply.get("text") or "" for reply in json.loads(answer.read()))


def test_a_publish_from_the_console_reaches_every_server_without_a_restart(group):
    added = "Ask the team which needle size suits you best."
    made = staff(group, "add-user", "pia", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    pids = [process.popen.pid for process in group.rasa]
    client = Client(group.console_port)
    assert client.log_in("pia")[0] == 303
    assert client.edit_answer("needles", lambda answer: f"{answer} {added}")[0] == 303
    assert client.press("/publish")[0] == 303
    assert "Published." in client.publish_ended()
    for number in range(len(group.rasa)):
        assert wait_until(lambda n=number: added in ask_server(group, n, "what needles do you use"), 60), number
    assert [process.popen.pid for process in group.rasa] == pids
    assert all(process.running() for process in group.rasa)


def test_clinic_details_changed_reach_every_server_without_a_restart(group):
    pids = [process.popen.pid for process in group.rasa + group.actions]
    kept = group.profile.read_text()
    assert '  monday: "08:00-18:00"' in kept
    try:
        group.profile.write_text(kept.replace('  monday: "08:00-18:00"', '  monday: "09:30-17:00"'))
        for number in range(len(group.rasa)):
            assert wait_until(
                lambda n=number: "Monday: 9:30 am to 5 pm" in ask_server(group, n, "what are your opening hours?"), 30
            ), number
    finally:
        group.profile.write_text(kept)
    assert [process.popen.pid for process in group.rasa + group.actions] == pids


def test_no_contact_details_in_any_log_of_the_group(group):
    logs = group.log_text()
    assert "rasa" in logs.lower()  # the logs were read
    for secret in NAMES + PHONES + [p.replace("(", "").replace(") ", "").replace("-", "") for p in PHONES]:
        assert secret not in logs
    assert group.postgres.password not in logs and group.redis.password not in logs and group.token not in logs


def test_the_staff_report_reads_the_shared_stores(group):
    """`make report` in a clinic group: TRACKER_DB_URL and BOOKINGS_DB_URL name the shared databases."""
    env = dict(group.rasa[0].env, BOOKINGS_DB_URL=group.postgres.url("clinic_bookings"))
    report = subprocess.run(
        [str(BIN / "python"), "-m", "tools.visitor_report"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    week = datetime.now(timezone.utc).strftime("%G-W%V")
    line = next(line for line in report.stdout.splitlines() if week in line)
    assert re.search(rf"\b{len(group.confirmed)}\b", line), report.stdout
    assert not any(name in report.stdout for name in NAMES)


def test_erasing_one_visitor_in_the_shared_postgresql_stores(group):
    """`python -m actions.staff erase` in a clinic group: the visitor's request, deliveries and
    conversation go from the shared PostgreSQL databases, and from their files; the other
    visitors' stay."""
    reference = sorted(group.confirmed)[0]
    phone = dict(bookings(group))[reference]
    typed_phone = next(typed for typed in PHONES if f"+1{digits(typed)}" == phone)
    name = NAMES[PHONES.index(typed_phone)]
    kept_phone = next(other for ref, other in bookings(group) if ref != reference)

    def conversations_with(needle: str) -> int:
        engine = create_engine(group.postgres.url("clinic_tracker"), future=True)
        try:
            with engine.connect() as connection:
                query = text("SELECT COUNT(DISTINCT sender_id) FROM events WHERE data LIKE :n")
                return connection.execute(query, {"n": f"%{needle}%"}).scalar()
        finally:
            engine.dispose()

    assert conversations_with(reference) == 1 and conversations_with(phone) >= 1
    # Statistics sampled from the rows, as autovacuum takes them whenever it likes: the events'
    # JSON among them (the action servers' first purge ran before Rasa made the table).
    staff_sql(group, "clinic_tracker", "ANALYZE")
    staff_sql(group, "clinic_bookings", "ANALYZE")
    assert "data" in sampled_columns(group, "clinic_tracker", "events")
    assert relation_files_containing(group, phone)  # what the search below must not find afterwards
    done = staff(group, "erase", "--reference", reference)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"request {reference}" in done.stdout and "1 request(s) and 1 conversation(s)" in done.stdout
    remaining = dict(bookings(group))
    assert reference not in remaining and phone not in remaining.values()
    assert len(remaining) == len(group.confirmed) - 1
    assert conversations_with(reference) == 0 and conversations_with(phone) == 0
    # Deleted means gone from the files: the tables were rewritten without the rows, and PostgreSQL
    # keeps no statistics of the columns that hold visitors' words.
    for secret in (phone, typed_phone, name, reference):
        assert relation_files_containing(group, secret) == [], secret
    assert "data" not in sampled_columns(group, "clinic_tracker", "events")
    assert not {"reference", "name", "phone", "email"} & sampled_columns(group, "clinic_bookings", "booking_requests")
    assert relation_files_containing(group, kept_phone)  # only that visitor was erased


def test_purging_everything_from_the_shared_postgresql_stores(group):
    """`python -m actions.staff purge --older-than-days 0` in a clinic group, with both Rasa
    servers running: no request and no conversation text left, in the tables or their files; the
    group goes on answering. (After the tests that count the stored bookings and conversations.)"""
    kept = len(bookings(group))
    assert kept == len(group.confirmed) - 1  # what the erasure above left
    kept_phone = bookings(group)[0][1]
    written = ["What name", "Which day and time", "I'd like to book an appointment", "does dry needling hurt?"]
    assert relation_files_containing(group, kept_phone) and relation_files_containing(group, written[0])
    done = staff(group, "purge", "--older-than-days", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Removed {kept} booking request(s)" in done.stdout, done.stdout
    assert bookings(group) == []
    for database, table in (
        ("clinic_bookings", "booking_requests"),
        ("clinic_bookings", "booking_deliveries"),
        ("clinic_tracker", "events"),
    ):
        engine = create_engine(group.postgres.url(database), future=True)
        try:
            with engine.connect() as connection:
                assert connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0, table
        finally:
            engine.dispose()
    for secret in written + NAMES + PHONES + [f"+1{digits(phone)}" for phone in PHONES]:
        assert relation_files_containing(group, secret) == [], secret
    reply, _ = say(group, str(uuid.uuid4()), "does dry needling hurt?")
    assert "pain" in reply.lower(), reply


def test_only_the_website_channel_is_public(group):
    """nginx passes the widget's paths on and nothing else: not the REST channel, not Rasa's banner.
    (Last in the module: its request moves nginx's round robin, which the tests above count on.)"""
    for method, path, body in (
        ("POST", "/webhooks/rest/webhook", b'{"sender": "a", "message": "hi"}'),
        ("GET", "/", None),
    ):
        request = urllib.request.Request(
            group.nginx.url + path, data=body, method=method, headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 404
    with urllib.request.urlopen(group.nginx.url + "/webhooks/website/config", timeout=10) as answer:
        assert answer.status == 200
