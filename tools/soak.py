"""The load soak: N concurrent website-chat conversations against the real servers.

    .venv/bin/python -m tools.soak                   # 50 conversations for 300 s (make soak)
    .venv/bin/python -m tools.soak --conversations 20 --seconds 60 --window-seconds 15   # CI's short form

What it does, on loopback only:

- starts the real action server and Rasa server with the trained model (``tools.servers.start_assistant``:
  free ports, a temporary work folder, the SQLite booking store ``BOOKINGS_DB_URL`` points into it) and a
  real local clinic webhook (``tools.clinic_endpoint.ClinicEndpoint``, checking signatures), so each
  booking can be checked stored once *and* delivered once;
- runs ``--conversations`` simulated visitors at once over the website channel
  (``POST /webhooks/website/webhook``). Each visitor holds one conversation after another (a new sender
  UUID each time) until ``--seconds`` are up: FAQ questions in visitors' own words, complete bookings (a
  unique made-up name, a unique phone in the fictional 555-01xx range and/or an email), and about one
  request in ten a bad one (empty, whitespace, 100,000 characters, not JSON, an array, no sender, NUL,
  a lone "/", a form post, a foreign origin: each must get its 4xx; forged ``/intent{...}`` slots: a
  normal 200 reply and nothing saved). A visitor thinks 1-3 s between messages. Every visitor comes
  from 127.0.0.1, so the per-address limit is lifted (``WEBSITE_RATE_LIMIT_PER_ADDRESS=off``); the
  per-sender limit keeps its default, and no conversation sends as many messages as it allows in a
  window, so it is never reached;
- samples the resident memory (VmRSS) of both server processes once a second, and their CPU time;
- at the end reads the booking store and the clinic endpoint: every booking the client saw confirmed
  (a DN-XXXXX reference) is stored exactly once with the details typed and delivered once, nothing else
  is stored; and searches both servers' logs for every name, phone and email used;
- prints the figures and ``soak: PASS`` or ``soak: FAIL (reasons)``, writes them as JSON (``--out``;
  the servers' logs are copied beside it) and exits 0 or 1.

Pass: no 5xx, no 429, no connection errors or timeouts, no unexpected status, no "couldn't answer"
stand-in replies; no booking lost, duplicated, stored unconfirmed, stored with other details or
refused with "could not save"; none undelivered or delivered twice; the visitors done within the
request timeout after the end; memory growth under 10% (each server and both together: the mean of
the first window against the mean of the last window of the load); no contact details in any log;
and at least one booking and one FAQ answer completed (an empty run cannot pass).

Bounded: the load stops at ``--seconds`` (a request in flight then gets at most the widget's 30 s),
and an alarm ends the whole run (server starts included) if it overruns; the servers are stopped in
any case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from tools.figures import percentile
from tools.servers import proc_status_kb

ROOT = Path(__file__).resolve().parent.parent

MODEL_PATH = ROOT / "models" / "clinic-assistant.tar.gz"
WEBHOOK = "/webhooks/website/webhook"
REFERENCE = re.compile(r"\bDN-[2-9A-HJKMNP-Z]{5}\b")
NO_REPLY = "Sorry, I couldn't answer that just now"  # website/channel.py no_reply_text()
NOT_SAVED = "could not save your request"  # domain.yml utter_booking_not_saved
MAX_MEMORY_GROWTH_PERCENT = 10.0
REQUEST_TIMEOUT_SECONDS = 30.0  # what the widget waits before saying the server cannot be reached
THINK_SECONDS = (1.0, 3.0)
BAD_REQUEST_SHARE = 0.08  # before a message, a bad request with this chance (plus forged-slot conversations)
DELIVERY_WAIT_SECONDS = 60.0
PHONE_AREAS = ("202", "212", "312", "415", "617", "213", "305", "404", "512", "206", "303", "702", "215", "614", "503")
MAX_PEOPLE = 1000  # unique names: 10 x 10 x 10 surnames; phones: 15 area codes x 99 lines

# --- what visitors say -------------------------------------------------------------------------

FAQ_QUESTIONS = (
    "does dry needling hurt a lot?",
    "how painful is it, honestly",
    "how many sessions will I need for my shoulder?",
    "how much does a session cost?",
    "is this the same thing as acupuncture?",
    "whats the difference between dry needling and acupuncture",
    "any side effects I should know about?",
    "what should I wear to my appointment?",
    "how long does one session take?",
    "will I be sore the day after?",
    "what can dry needling help with? I have a bad lower back",
    "is dry needling safe?",
    "who actually does the needling, is it a physio?",
    "how quickly will I feel better after treatment?",
    "what happens at the first visit?",
    "why did my muscle jump when the needle went in?",
    "what kind of needles do you use? are they single use?",
    "what is a trigger point exactly",
    "what should I do after my session?",
    "can I have it if I'm pregnant?",
    "I'm on blood thinners, is that a problem?",
    "do you take insurance?",
    "are you open on saturdays?",
    "where are you? is there parking?",
    "how does dry needling actually work?",
    "why not just get a massage instead?",
    "is needling enough on its own or do I need exercises too?",
    "why do muscles get knots in them",
    "what is dry needling?",
    "can it help with tension headaches?",
    "I'm really scared of needles, can I still have it?",
    "do you use electrical stimulation with the needles?",
)
OPENERS = ("hi", "hello there", "good morning")
CLOSERS = ("thanks!", "thank you, bye", "great, thanks")
BOOKING_STARTS = (
    "I'd like to book an appointment",
    "can I book a session please",
    "book me in",
    "/book_appointment",  # the widget's "Book an appointment" quick reply
)
NAME_FORMS = ("{name}", "my name is {name}", "{lower}", "I'm {name}", "it's {name}")
TIMES = (
    "next tuesday at 10am",
    "next thursday at 3pm",
    "next monday at 9am",
    "next wednesday at 2pm",
    "next friday at 11am",
    "next tuesday after work",
)
CONSENTS = ("yes", "yes, I agree", "/affirm")  # /affirm: the "Yes, I agree" button
CONFIRMATIONS = ("yes", "yes please send it", "/affirm")
FIRST_NAMES = (
    "Orla",
    "Caspian",
    "Thessaly",
    "Bramwell",
    "Isolde",
    "Peregrine",
    "Marisol",
    "Evander",
    "Ottoline",
    "Lucan",
    "Seraphine",
    "Tobiah",
    "Wrenna",
    "Alaric",
    "Briony",
    "Cosimo",
    "Delphine",
    "Ignatius",
    "Juniper",
    "Leander",
)
SURNAME_PARTS = (
    ("Vel", "Quor", "Bram", "Tesk", "Marl", "Zon", "Hald", "Criv", "Dor", "Yss"),
    ("an", "eth", "ov", "ur", "im", "ast", "ol", "und", "ier", "ax"),
    ("row", "wick", "mere", "by", "stone", "dale", "holt", "ford", "lyn", "worth"),
)
BAD_KINDS = (
    "empty",
    "whitespace",
    "huge",
    "too_long",
    "not_json",
    "json_array",
    "no_sender",
    "nul",
    "slash_only",
    "form_post",
    "foreign_origin",
)


@dataclass(frozen=True)
class Person:
    """A made-up visitor who books: unique name, phone and email (all fictional)."""

    name: str
    surname: str
    phone_typed: Optional[str]
    phone_e164: Optional[str]
    email: Optional[str]
    contact_typed: str

    def details(self) -> List[str]:
        """What must never appear in a log."""
        values = [self.name, self.surname, self.email, self.phone_typed, self.phone_e164]
        if self.phone_e164:
            values.append(self.phone_e164[2:])  # the national digits, 2125550187
        return [value for value in values if value]


def person(index: int, contact_style: int = 0) -> Person:
    """The ``index``-th made-up person (unique per index below MAX_PEOPLE).

    ``contact_style``: 0-4 a phone in one of five typed forms, 5 an email, 6 both.
    """
    if not 0 <= index < MAX_PEOPLE:
        raise ValueError(f"person index {index} outside 0..{MAX_PEOPLE - 1}")
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    parts = [SURNAME_PARTS[0][index % 10], SURNAME_PARTS[1][index // 10 % 10], SURNAME_PARTS[2][index // 100 % 10]]
    surname = "".join(parts)
    area = PHONE_AREAS[index // 99 % len(PHONE_AREAS)]
    line = f"01{index % 99 + 1:02d}"  # 0101-0199; 0100 is the clinic's own number
    forms = (
        f"({area}) 555-{line}",
        f"{area}-555-{line}",
        f"{area}.555.{line}",
        f"+1 {area} 555 {line}",
        f"{area} 555 {line}",
    )
    email = f"{first.lower()}.{surname.lower()}@mail.example"
    style = contact_style % 7
    if style < 5:  # a phone only, in the style-th typed form, sometimes in a sentence
        phone: Optional[str] = forms[style]
        contact = phone if index % 2 else f"my number is {phone}"
    elif style == 5:  # an email only
        phone, contact = None, email
    else:  # both
        phone = forms[index % 5]
        contact = f"{phone} or {email}"
    return Person(
        name=f"{first} {surname}",
        surname=surname,
        phone_typed=phone,
        phone_e164=f"+1{area}555{line}" if phone else None,
        email=email if style >= 5 else None,
        contact_typed=contact,
    )


@dataclass(frozen=True)
class Step:
    """One message and what the reply must contain for the visitor to go on (None: anything)."""

    message: str
    expect: Optional[str] = None


@dataclass(frozen=True)
class Plan:
    """One conversation: its kind, its messages and, for a booking, who books."""

    kind: str  # "faq", "booking" or "forged"
    steps: Tuple[Step, ...]
    person: Optional[Person] = None


def faq_plan(rng: random.Random) -> Plan:
    """One to three questions, sometimes after a greeting, sometimes with thanks at the end."""
    steps = [Step(rng.choice(OPENERS))] if rng.random() < 0.25 else []
    steps += [Step(question) for question in rng.sample(FAQ_QUESTIONS, rng.randint(1, 3))]
    if rng.random() < 0.3:
        steps.append(Step(rng.choice(CLOSERS)))
    return Plan("faq", tuple(steps))


def booking_plan(rng: random.Random, who: Person) -> Plan:
    """A complete booking as tests/test_e2e_booking.py types it: name, contact, time, consent, confirm."""
    steps = (
        Step(rng.choice(BOOKING_STARTS), "What name"),
        Step(rng.choice(NAME_FORMS).format(name=who.name, lower=who.name.lower()), "phone number or email"),
        Step(who.contact_typed, "Which day and time"),
        Step(rng.choice(TIMES), "Do you agree"),
        Step(rng.choice(CONSENTS), "Shall I send it"),
        Step(rng.choice(CONFIRMATIONS), "REFERENCE"),
    )
    return Plan("booking", steps, who)


def forged_plan(rng: random.Random, who: Person) -> Plan:
    """Slots set by typing ``/intent{...}``: answered normally (200), never saved."""
    slots = {"full_name": who.name, "phone": who.phone_e164 or "x", "consent": True, "booking_confirmed": True}
    first = rng.choice(("/book_appointment", "/inform", "/affirm")) + json.dumps(slots)
    steps = [Step(first)]
    second = rng.random()
    if second < 0.4:
        steps.append(Step('/inform{"contact": "%s", "preferred_time": "2020-01-01T10:00:00"}' % (who.email or "x")))
    elif second < 0.7:  # no such intent: typed text that starts with "/"
        steps.append(Step(f"/my name is {who.name}"))
    steps.append(Step("cancel"))
    return Plan("forged", tuple(steps), who)


def max_messages(plan: Plan) -> int:
    """Most messages the plan can send under its sender: its steps, and "cancel" if it goes off script.

    Bad requests are refused before the per-sender limit counts them.
    """
    return len(plan.steps) + 1


def bad_request(kind: str, sender: str) -> Tuple[bytes, Dict[str, str], Tuple[int, ...]]:
    """A bad request of ``kind`` for ``sender``: ``(body, headers, the statuses it must get)``."""
    json_headers = {"Content-Type": "application/json"}

    def body(document: Any) -> bytes:
        return json.dumps(document).encode()

    table = {
        "empty": (body({"sender": sender, "message": ""}), json_headers, (400,)),
        "whitespace": (body({"sender": sender, "message": " \t\n  "}), json_headers, (400,)),
        "huge": (body({"sender": sender, "message": "a" * 100_000}), json_headers, (400,)),
        "too_long": (body({"sender": sender, "message": "b" * 2001}), json_headers, (400,)),
        "not_json": (b'{"sender": "' + sender.encode() + b'", "message": ', json_headers, (400,)),
        "json_array": (body([sender, "does it hurt?"]), json_headers, (400,)),
        "no_sender": (body({"message": "does it hurt?"}), json_headers, (400,)),
        "nul": (body({"sender": sender, "message": "does it\x00 hurt?"}), json_headers, (400,)),
        "slash_only": (body({"sender": sender, "message": " / "}), json_headers, (400,)),
        "form_post": (
            b"sender=" + sender.encode() + b"&message=hi",
            {"Content-Type": "application/x-www-form-urlencoded"},
            (415,),
        ),
        "foreign_origin": (
            body({"sender": sender, "message": "hi"}),
            {**json_headers, "Origin": "https://evil.example"},
            (403,),
        ),
    }
    return table[kind]


# --- figures -----------------------------------------------------------------------------------


def growth_percent(first: float, last: float) -> float:
    """How much ``last`` grew over ``first``, in percent (negative: it shrank)."""
    if first <= 0:
        raise ValueError("the first value must be positive")
    return (last - first) / first * 100.0


def window_means(samples: Sequence[Tuple[float, float]], window: float, end: float) -> Tuple[float, float]:
    """Mean of the values sampled in ``[0, window)`` and in ``[end - window, end]``.

    Args:
        samples: ``(seconds since the load started, value)`` pairs.
        window: The window's length in seconds.
        end: When the load ended, in the same seconds.

    Raises:
        ValueError: a window holds no sample.
    """
    first = [value for at, value in samples if 0 <= at < window]
    last = [value for at, value in samples if end - window <= at <= end]
    if not first or not last:
        raise ValueError("a memory window holds no sample (run longer than two windows)")
    return sum(first) / len(first), sum(last) / len(last)


def reconcile(confirmed: Sequence[Mapping[str, Any]], stored: Sequence[Mapping[str, Any]]) -> Dict[str, List[str]]:
    """Compares the bookings the client saw confirmed with those in the store.

    Each booking is a mapping with ``reference``, ``name``, ``phone`` (E.164 or None), ``email``.

    Returns:
        ``lost``: confirmed references not stored; ``duplicated``: a reference, name, phone or email
        stored more than once (or confirmed twice); ``unexpected``: stored references nobody saw confirmed;
        ``mismatched``: stored with other details than the client typed.
    """
    stored_by_reference: Dict[str, List[Mapping[str, Any]]] = {}
    for row in stored:
        stored_by_reference.setdefault(row["reference"], []).append(row)
    confirmed_by_reference = {booking["reference"]: booking for booking in confirmed}
    lost = sorted(ref for ref in confirmed_by_reference if ref not in stored_by_reference)
    unexpected = sorted(ref for ref in stored_by_reference if ref not in confirmed_by_reference)
    duplicated = [
        f"reference {ref} stored {len(rows)} times"
        for ref, rows in sorted(stored_by_reference.items())
        if len(rows) > 1
    ]
    if len(confirmed_by_reference) < len(confirmed):
        duplicated.append(f"{len(confirmed) - len(confirmed_by_reference)} references confirmed twice")
    for column in ("name", "phone", "email"):
        seen: Dict[str, int] = {}
        for row in stored:
            if row.get(column):
                seen[row[column]] = seen.get(row[column], 0) + 1
        duplicated += [f"one {column} stored {count} times" for count in seen.values() if count > 1]
    mismatched = sorted(
        ref
        for ref, booking in confirmed_by_reference.items()
        if ref in stored_by_reference
        and any(
            (row.get("name"), row.get("phone"), row.get("email"))
            != (booking.get("name"), booking.get("phone"), booking.get("email"))
            for row in stored_by_reference[ref]
        )
    )
    return {"lost": lost, "duplicated": duplicated, "unexpected": unexpected, "mismatched": mismatched}


def masked(text: str, who: Optional[Person]) -> str:
    """``text`` with the person's name, phone and email replaced by placeholders (for the results file)."""
    if who is None:
        return text
    for detail, placeholder in (
        (who.email, "<email>"),
        (who.phone_typed, "<phone>"),
        (who.phone_e164, "<phone>"),
        (who.name, "<name>"),
        (who.surname, "<surname>"),
    ):
        if detail:
            text = re.sub(re.escape(detail), placeholder, text, flags=re.IGNORECASE)
    return text


def details_in_logs(log_text: str, details: Iterable[str]) -> List[str]:
    """The details (names, phones, emails) found in the logs, compared without case."""
    lowered = log_text.lower()
    return sorted({detail for detail in details if detail and detail.lower() in lowered})


def error_sources(log_text: str) -> Dict[str, int]:
    """How many ERROR lines each logger wrote (``... ERROR    rasa.core.nlg.interpolator  - ...``)."""
    counts: Dict[str, int] = {}
    for found in re.finditer(r" ERROR\s+([\w.]+)", log_text):
        counts[found.group(1)] = counts.get(found.group(1), 0) + 1
    return dict(sorted(counts.items()))


def read_cpu_seconds(pid: int) -> Optional[float]:
    """CPU time (user + system) process ``pid`` has used, in seconds; None when it is gone."""
    import os

    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# --- the load ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """Everything the visitors saw."""

    requests: List[Tuple[str, Optional[int], float, Optional[str]]] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)  # "kind: status" of requests with a wrong status
    conversations_started: Dict[str, int] = field(default_factory=dict)
    conversations_finished: Dict[str, int] = field(default_factory=dict)
    conversations_cut_short: int = 0  # the time was up mid-conversation
    overran: bool = False  # the visitors were still busy long after the time was up
    cpu_percent: Dict[str, float] = field(default_factory=dict)  # per server, of one core, over the load
    off_script: Dict[str, int] = field(default_factory=dict)  # booking step name -> count
    off_script_examples: List[str] = field(default_factory=list)  # what was said and answered, details masked
    faq_answers: int = 0
    no_reply_answers: int = 0
    not_saved: int = 0
    confirmed: List[Dict[str, Any]] = field(default_factory=list)
    people: List[Person] = field(default_factory=list)

    def record(self, kind: str, status: Optional[int], latency: float, error: Optional[str]) -> None:
        self.requests.append((kind, status, latency, error))


class Load:
    """The shared state of the simulated visitors."""

    def __init__(self, base_url: str, seconds: float, seed: int, answers: Iterable[str]) -> None:
        self.url = base_url + WEBHOOK
        self.seconds = seconds
        self.seed = seed
        self.answers = [answer for answer in answers if answer]
        self.tally = Tally()
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self.next_person = 0
        from clinic import settings

        per_sender, _ = settings.website_rate_limits({})  # the default the soak keeps
        self.per_sender_count = per_sender.count if per_sender else None

    def time_up(self) -> bool:
        return time.monotonic() >= self.deadline

    def new_plan(self, rng: random.Random) -> Plan:
        """The next visitor's conversation: about 55% FAQ, 38% bookings, 7% forged slots."""
        draw = rng.random()
        if draw < 0.55 or self.next_person >= MAX_PEOPLE:  # (made-up people used up: questions only)
            plan = faq_plan(rng)
        else:
            index = self.next_person
            self.next_person += 1
            who = person(index, contact_style=rng.randrange(7))
            self.tally.people.append(who)
            plan = booking_plan(rng, who) if draw < 0.93 else forged_plan(rng, who)
        if self.per_sender_count is not None and max_messages(plan) >= self.per_sender_count:
            raise AssertionError("a conversation would reach the per-sender rate limit")
        return plan

    async def post(self, session, kind: str, body: bytes, headers: Mapping[str, str]):
        """One request; records and returns ``(status or None, parsed answer or None)``."""
        import aiohttp

        began = time.monotonic()
        status, answer, error = None, None, None
        try:
            async with session.post(self.url, data=body, headers=dict(headers)) as response:
                status = response.status
                raw = await response.read()
            try:
                answer = json.loads(raw or b"null")
            except ValueError:
                answer = None
        except asyncio.TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as failure:
            error = f"connection: {type(failure).__name__}"
        self.tally.record(kind, status, time.monotonic() - began, error)
        return status, answer

    async def say(self, session, kind: str, sender: str, text: str):
        body = json.dumps({"sender": sender, "message": text}).encode()
        return await self.post(session, kind, body, {"Content-Type": "application/json"})

    async def bad(self, session, rng: random.Random, sender: str) -> None:
        kind = rng.choice(BAD_KINDS)
        body, headers, expected = bad_request(kind, sender)
        status, _ = await self.post(session, "bad:" + kind, body, headers)
        if status is not None and status not in expected:
            self.tally.unexpected.append(f"bad:{kind}: {status}")

    async def conversation(self, session, rng: random.Random, plan: Plan) -> None:
        tally = self.tally
        tally.conversations_started[plan.kind] = tally.conversations_started.get(plan.kind, 0) + 1
        sender = str(uuid.uuid4())
        for number, step in enumerate(plan.steps):
            if number:
                await asyncio.sleep(rng.uniform(*THINK_SECONDS))
            if self.time_up():
                tally.conversations_cut_short += 1
                return
            if rng.random() < BAD_REQUEST_SHARE:
                await self.bad(session, rng, sender)
            status, answer = await self.say(session, plan.kind, sender, step.message)
            if status != 200 or not isinstance(answer, list):
                if status is not None and status < 500 and status != 429:
                    tally.unexpected.append(f"{plan.kind}: {status}")
                return
            text = "\n".join(str(reply.get("text") or "") for reply in answer if isinstance(reply, dict))
            if NO_REPLY in text:
                tally.no_reply_answers += 1
            if plan.kind == "faq" and any(known in text for known in self.answers):
                tally.faq_answers += 1
            if step.expect == "REFERENCE":
                found = REFERENCE.search(text)
                if found:
                    who = plan.person
                    tally.confirmed.append(
                        {"reference": found.group(0), "name": who.name, "phone": who.phone_e164, "email": who.email}
                    )
                elif NOT_SAVED in text:
                    tally.not_saved += 1
            on_script = (
                bool(REFERENCE.search(text))
                if step.expect == "REFERENCE"
                else (step.expect is None or step.expect in text)
            )
            if not on_script:
                label = f"step {number + 1} ({step.expect})"
                tally.off_script[label] = tally.off_script.get(label, 0) + 1
                if len(tally.off_script_examples) < 20:
                    said = masked(step.message, plan.person)
                    tally.off_script_examples.append(f"{label}: {said!r} -> {masked(text, plan.person)[:160]!r}")
                await self.say(session, plan.kind, sender, "cancel")
                return
        tally.conversations_finished[plan.kind] = tally.conversations_finished.get(plan.kind, 0) + 1

    async def visitor(self, session, number: int, ramp: float) -> None:
        rng = random.Random(self.seed * 1000 + number)
        await asyncio.sleep(rng.uniform(0, ramp))
        while not self.time_up():
            await self.conversation(session, rng, self.new_plan(rng))
            await asyncio.sleep(rng.uniform(*THINK_SECONDS))


async def sample_memory(
    pids: Mapping[str, int], started: float, stop: asyncio.Event, samples: Dict[str, List[Tuple[float, float]]]
) -> None:
    """Appends ``(seconds since start, VmRSS kB)`` per process to ``samples`` once a second."""
    while not stop.is_set():
        at = time.monotonic() - started
        for name, pid in pids.items():
            rss = proc_status_kb(pid, "VmRSS")
            if rss is not None:
                samples.setdefault(name, []).append((at, float(rss)))
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass


async def run_load(
    base_url: str, pids: Mapping[str, int], conversations: int, seconds: float, seed: int, answers: Iterable[str]
) -> Tuple[Load, Dict[str, List[Tuple[float, float]]], float]:
    """Runs the visitors until the time is up and their last requests are answered.

    Returns:
        The load (with its tally), the memory samples, and when the load ended (seconds since start).
    """
    import aiohttp

    load = Load(base_url, seconds, seed, answers)
    cpu_before = {name: read_cpu_seconds(pid) for name, pid in pids.items()}
    samples: Dict[str, List[Tuple[float, float]]] = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_memory(pids, load.started, stop, samples))
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    connector = aiohttp.TCPConnector(limit=conversations + 10)
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            ramp = min(5.0, seconds / 10)
            visitors = [load.visitor(session, number, ramp) for number in range(conversations)]
            # Visitors start no message after the deadline; one in flight is awaited (at most the timeout).
            try:
                await asyncio.wait_for(asyncio.gather(*visitors), timeout=seconds + REQUEST_TIMEOUT_SECONDS + 30)
            except asyncio.TimeoutError:
                load.tally.overran = True
        ended = time.monotonic() - load.started
    finally:
        stop.set()
        await sampler
    for name, pid in pids.items():
        used, before = read_cpu_seconds(pid), cpu_before[name]
        if used is not None and before is not None:
            load.tally.cpu_percent[name] = (used - before) / ended * 100
    return load, samples, ended


# --- the report --------------------------------------------------------------------------------


def memory_change(first_kb: float, last_kb: float) -> Dict[str, float]:
    return {"first_mb": first_kb / 1024, "last_mb": last_kb / 1024, "growth_percent": growth_percent(first_kb, last_kb)}


def memory_figures(samples: Mapping[str, Sequence[Tuple[float, float]]], window: float, end: float) -> Dict[str, Any]:
    """First- and last-window means (MB) and growth (%) per process and for all together."""
    figures: Dict[str, Any] = {}
    names = sorted(samples)
    for name in names:
        first, last = window_means(samples[name], window, end)
        figures[name] = memory_change(first, last)
    # "Together": the sum at each sampling moment both processes were read.
    by_time: Dict[float, List[float]] = {}
    for name in names:
        for at, value in samples[name]:
            by_time.setdefault(at, []).append(value)
    combined = {at: sum(values) for at, values in by_time.items() if len(values) == len(names)}
    first, last = window_means(sorted(combined.items()), window, end)
    figures["combined"] = memory_change(first, last)
    return figures


def summarise(
    load: Load,
    memory: Mapping[str, Any],
    stored: Sequence[Mapping[str, Any]],
    delivered: Sequence[str],
    deliveries_received: int,
    rejected_signatures: int,
    log_text: str,
    ended: float,
) -> Dict[str, Any]:
    """Every figure the soak reports, as plain JSON-ready values."""
    tally = load.tally
    statuses: Dict[str, int] = {}
    for _, status, _, error in tally.requests:
        key = str(status) if status is not None else (error or "error").split(":")[0]
        statuses[key] = statuses.get(key, 0) + 1
    latencies = [latency * 1000 for _, status, latency, _ in tally.requests if status is not None]
    answered = [
        latency * 1000 for kind, status, latency, _ in tally.requests if status == 200 and not kind.startswith("bad")
    ]
    stored_references = [row["reference"] for row in stored]
    booking_checks = reconcile(tally.confirmed, stored)
    details = [detail for who in tally.people for detail in who.details()]
    found = details_in_logs(log_text, details)
    unique_delivered = set(delivered)
    return {
        "load_seconds": round(ended, 1),
        "load_overran": tally.overran,
        "conversations_started": sum(tally.conversations_started.values()),
        "conversations_finished": sum(tally.conversations_finished.values()),
        "conversations_by_kind": {
            kind: {"started": count, "finished": tally.conversations_finished.get(kind, 0)}
            for kind, count in sorted(tally.conversations_started.items())
        },
        "conversations_cut_short_at_the_end": tally.conversations_cut_short,
        "requests_sent": len(tally.requests),
        "bad_requests_sent": sum(1 for kind, *_ in tally.requests if kind.startswith("bad:")),
        "statuses": dict(sorted(statuses.items())),
        "status_5xx": sum(1 for _, status, _, _ in tally.requests if status is not None and status >= 500),
        "status_429": statuses.get("429", 0),
        "connection_errors": sum(1 for *_, error in tally.requests if error and error.startswith("connection")),
        "timeouts": statuses.get("timeout", 0),
        "unexpected_statuses": len(tally.unexpected),
        "unexpected_status_examples": sorted(set(tally.unexpected))[:10],
        "no_reply_answers": tally.no_reply_answers,
        "faq_answers": tally.faq_answers,
        "bookings_confirmed": len(tally.confirmed),
        "bookings_stored": len(stored_references),
        "bookings_lost": len(booking_checks["lost"]),
        "bookings_duplicated": len(booking_checks["duplicated"]),
        "bookings_unexpected": len(booking_checks["unexpected"]),
        "bookings_mismatched": len(booking_checks["mismatched"]),
        "booking_problems": {key: value[:10] for key, value in booking_checks.items() if value},
        "bookings_not_saved": tally.not_saved,
        "bookings_off_script": dict(sorted(tally.off_script.items())),
        "off_script_examples": tally.off_script_examples,
        "deliveries_received": deliveries_received,
        "deliveries_unique": len(unique_delivered),
        "deliveries_repeated": deliveries_received - len(unique_delivered),
        "bookings_undelivered": len(set(stored_references) - unique_delivered),
        "deliveries_unknown": len(unique_delivered - set(stored_references)),
        "rejected_signatures": rejected_signatures,
        "latency_ms": {
            "all_p50": percentile(latencies, 50),
            "all_p95": percentile(latencies, 95),
            "answered_p50": percentile(answered, 50),
            "answered_p95": percentile(answered, 95),
            "max": max(latencies) if latencies else None,
        },
        "memory": memory,
        "cpu_percent_of_one_core": {name: round(value, 1) for name, value in sorted(tally.cpu_percent.items())},
        "contact_details_searched": len(set(details)),
        "contact_details_in_logs": len(found),
        "contact_details_found": found[:10],
        "log_error_lines": sum(1 for line in log_text.splitlines() if " ERROR " in line or "Traceback" in line),
        "log_error_sources": error_sources(log_text),
    }


def failures(figures: Mapping[str, Any]) -> List[str]:
    """Why the soak failed; empty when it passed."""
    reasons = []
    for key, words in (
        ("status_5xx", "5xx answers"),
        ("status_429", "429 answers"),
        ("connection_errors", "connection errors"),
        ("timeouts", "timeouts"),
        ("unexpected_statuses", "unexpected statuses"),
        ("no_reply_answers", "'couldn't answer' replies"),
        ("bookings_lost", "bookings lost"),
        ("bookings_duplicated", "bookings duplicated"),
        ("bookings_unexpected", "bookings stored unconfirmed"),
        ("bookings_mismatched", "bookings stored with other details"),
        ("bookings_not_saved", "bookings refused with 'could not save'"),
        ("load_overran", "load overran"),
        ("bookings_undelivered", "bookings undelivered"),
        ("deliveries_repeated", "deliveries repeated"),
        ("deliveries_unknown", "unknown deliveries"),
        ("rejected_signatures", "bad signatures"),
        ("contact_details_in_logs", "contact details in logs"),
    ):
        value = figures.get(key)
        if value:
            reasons.append(words if value is True else f"{value} {words}")
    if figures.get("servers_exited_during_the_load"):
        reasons.append("servers exited: " + ", ".join(figures["servers_exited_during_the_load"]))
    memory = figures.get("memory") or {}
    if not memory:
        reasons.append("no memory figures")
    for name, values in memory.items():
        if values["growth_percent"] >= MAX_MEMORY_GROWTH_PERCENT:
            reasons.append(f"{name} memory grew {values['growth_percent']:.1f}%")
    if not figures.get("bookings_confirmed"):
        reasons.append("no booking completed")
    if not figures.get("faq_answers"):
        reasons.append("no FAQ answered")
    return reasons


def report_lines(figures: Mapping[str, Any]) -> List[str]:
    """The figures as readable lines."""

    def ms(value: Optional[float]) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    latency = figures["latency_ms"]
    lines = [
        f"load: {figures['load_seconds']} s",
        f"conversations started/finished: {figures['conversations_started']}/{figures['conversations_finished']} "
        + ", ".join(f"{kind} {c['started']}/{c['finished']}" for kind, c in figures["conversations_by_kind"].items())
        + f"; cut short at the end: {figures['conversations_cut_short_at_the_end']}",
        f"requests sent: {figures['requests_sent']} (bad on purpose: {figures['bad_requests_sent']}); "
        f"statuses: {json.dumps(figures['statuses'])}",
        f"5xx: {figures['status_5xx']}, 429: {figures['status_429']}, "
        f"connection errors: {figures['connection_errors']}, "
        f"timeouts: {figures['timeouts']}, unexpected statuses: {figures['unexpected_statuses']}, "
        f"'couldn't answer' replies: {figures['no_reply_answers']}",
        f"FAQ answers: {figures['faq_answers']}",
        f"bookings confirmed: {figures['bookings_confirmed']}, stored: {figures['bookings_stored']}, "
        f"lost: {figures['bookings_lost']}, duplicated: {figures['bookings_duplicated']}, "
        f"stored unconfirmed: {figures['bookings_unexpected']}, other details: {figures['bookings_mismatched']}, "
        f"not saved (told so): {figures['bookings_not_saved']}, "
        f"off script: {json.dumps(figures['bookings_off_script'])}",
        f"clinic endpoint down from {figures.get('clinic_endpoint_down_seconds')} s, answering "
        f"{SLOW_SECONDS:g} s late from {figures.get('clinic_endpoint_slow_seconds')} s into the load; "
        f"bookings delivered after failed attempts: {figures.get('deliveries_retried')}",
        f"deliveries: {figures['deliveries_received']} received, {figures['deliveries_unique']} unique, "
        f"repeated: {figures['deliveries_repeated']}, undelivered: {figures['bookings_undelivered']}, "
        f"unknown: {figures['deliveries_unknown']}",
        f"latency: p50 {ms(latency['all_p50'])}, p95 {ms(latency['all_p95'])} (answered messages: "
        f"p50 {ms(latency['answered_p50'])}, p95 {ms(latency['answered_p95'])}), max {ms(latency['max'])}",
    ]
    lines.append(
        "cpu over the load (% of one core): "
        + ", ".join(f"{name} {value:.0f}%" for name, value in figures["cpu_percent_of_one_core"].items())
    )
    for name, values in figures["memory"].items():
        lines.append(
            f"memory {name}: first window {values['first_mb']:.1f} MB, last window {values['last_mb']:.1f} MB, "
            f"growth {values['growth_percent']:+.2f}%"
        )
    lines.append(
        f"contact details in logs: {figures['contact_details_in_logs']} of {figures['contact_details_searched']} "
        f"searched; error lines in logs: {figures['log_error_lines']} {json.dumps(figures['log_error_sources'])}"
    )
    return lines


# --- the servers -------------------------------------------------------------------------------


class HardTimeout(Exception):
    """The whole soak took longer than its bound."""


def stored_bookings(db_url: str) -> List[Dict[str, Any]]:
    """Every request in the booking store, as plain mappings."""
    from clinic.booking_store import BookingStore

    store = BookingStore(db_url).open()
    try:
        return [
            {
                "reference": row.reference,
                "kind": row.kind,
                "name": row.name,
                "phone": row.phone,
                "email": row.email,
                "attempts": max((status.attempts for status in row.deliveries), default=0),
            }
            for row in store.list()
        ]
    finally:
        store.close()


OUTAGE = (0.25, 0.45)  # the clinic's endpoint is down for this share of the load...
SLOW = (0.45, 0.65)  # ...then answers each request this late
SLOW_SECONDS = 2.0


def endpoint_trouble(endpoint, seconds: float, stop: threading.Event) -> None:
    """The clinic's endpoint down, then slow, in the middle of the load: requests must be kept and
    delivered later. Runs in a thread beside the load."""
    began = time.monotonic()

    def until(share: float) -> bool:
        return not stop.wait(max(0.0, began + share * seconds - time.monotonic()))

    if not until(OUTAGE[0]):
        return
    endpoint.stop()
    try:
        if not until(OUTAGE[1]):
            return
    finally:
        endpoint.start()
    endpoint.delay_next(10_000, SLOW_SECONDS)
    until(SLOW[1])
    endpoint.stop_delaying()


def wait_for_deliveries(endpoint, references: Iterable[str], timeout: float) -> None:
    wanted = set(references)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not wanted <= set(endpoint.unique_references()):
        time.sleep(0.5)


def faq_answers() -> List[str]:
    from clinic.topic_files import check_faq_dir

    topics, _ = check_faq_dir(ROOT / "data" / "faq")
    return [topic.answers[0] for topic in topics]


def soak(conversations: int, seconds: float, window: float, out: Path, seed: int) -> Dict[str, Any]:
    """Starts the servers, runs the load, checks everything; returns the results written to ``out``."""
    from tools.clinic_endpoint import ClinicEndpoint
    from tools.servers import start_assistant

    if seconds < 2 * window:
        raise SystemExit("--seconds must be at least two memory windows (--window-seconds)")
    if not MODEL_PATH.exists():
        raise SystemExit(f"no trained model at {MODEL_PATH}: run `make train`")
    workdir = Path(tempfile.mkdtemp(prefix="clinic-soak-"))
    secret = secrets.token_hex(16)
    endpoint = ClinicEndpoint(secret).start()
    assistant = None
    try:
        env = {
            # Every simulated visitor comes from 127.0.0.1: the per-address limit (120/60) would refuse
            # the whole load as one client. The per-sender limit stays at its default (empty = default).
            "WEBSITE_RATE_LIMIT_PER_ADDRESS": "off",
            "WEBSITE_RATE_LIMIT_PER_SENDER": "",
            "CLINIC_BOOKING_WEBHOOK_URL": endpoint.url,
            "CLINIC_WEBHOOK_SECRET": secret,
            # Retries at most 10 s apart, so the outage's backlog is delivered within the run.
            "DELIVERY_RETRY_MAX_SECONDS": "10",
        }
        print(f"soak: starting the servers in {workdir}", flush=True)
        began = time.monotonic()
        assistant = start_assistant(MODEL_PATH, workdir, env)
        pids = {"rasa": assistant.processes[1].pid, "actions": assistant.processes[0].pid}
        print(
            f"soak: servers up in {time.monotonic() - began:.0f} s; {conversations} visitors for {seconds:.0f} s "
            f"(seed {seed})",
            flush=True,
        )
        trouble_stop = threading.Event()
        trouble = threading.Thread(target=endpoint_trouble, args=(endpoint, seconds, trouble_stop), daemon=True)
        trouble.start()
        try:
            load, samples, ended = asyncio.run(
                run_load(assistant.base_url, pids, conversations, seconds, seed, faq_answers())
            )
        finally:
            trouble_stop.set()
            trouble.join(timeout=30)
        confirmed = [booking["reference"] for booking in load.tally.confirmed]
        wait_for_deliveries(endpoint, confirmed, DELIVERY_WAIT_SECONDS)
        stored = stored_bookings(assistant.env["BOOKINGS_DB_URL"])
        time.sleep(1.0)  # a repeated delivery would arrive now
        delivered = endpoint.unique_references()
        received = len(endpoint.received)
        exited = [
            name
            for name, process in zip(("actions", "rasa"), assistant.processes, strict=True)
            if process.poll() is not None
        ]
        assistant.stop()
        try:
            # The last window is the load's last ``window`` seconds (the few seconds of draining are not in it).
            memory = memory_figures(samples, window, seconds)
        except ValueError:  # a server stopped answering /proc: no figures, and the verdict says so
            memory = {}
        figures = summarise(
            load, memory, stored, delivered, received, endpoint.rejected_signatures, assistant.log_text(), ended
        )
        figures["servers_exited_during_the_load"] = exited
        # Bookings whose delivery failed at least once (the outage) and still arrived once.
        figures["deliveries_retried"] = sum(1 for booking in stored if booking.get("attempts", 0) > 1)
        figures["clinic_endpoint_down_seconds"] = [round(OUTAGE[0] * seconds, 1), round(OUTAGE[1] * seconds, 1)]
        figures["clinic_endpoint_slow_seconds"] = [round(SLOW[0] * seconds, 1), round(SLOW[1] * seconds, 1)]
        logs = out.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for log in assistant.logs:
            if log.exists():
                shutil.copy(log, logs / log.name)
        reasons = failures(figures)
        return {
            "passed": not reasons,
            "reasons": reasons,
            "settings": {"conversations": conversations, "seconds": seconds, "window_seconds": window, "seed": seed},
            "figures": figures,
            "memory_samples_kb": {
                name: [[round(at, 1), value] for at, value in values] for name, values in samples.items()
            },
        }
    finally:
        if assistant is not None:
            assistant.stop()
        endpoint.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=50, help="concurrent visitors (default 50)")
    parser.add_argument("--seconds", type=float, default=300, help="how long the load runs (default 300)")
    parser.add_argument(
        "--window-seconds", type=float, default=60, help="the first and last memory windows compared (default 60)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "results" / "soak" / "soak.json",
        help="the JSON results file (default results/soak/soak.json)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, printed)")
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.seconds <= 0 or args.window_seconds <= 0:
        parser.error("--conversations, --seconds and --window-seconds must be positive")
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)

    def give_up(*_):
        raise HardTimeout()

    # The bound on everything: two server starts (up to 240 s each), the load, draining and checks.
    signal.signal(signal.SIGALRM, give_up)
    signal.signal(signal.SIGTERM, give_up)
    signal.alarm(int(args.seconds + 2 * 240 + REQUEST_TIMEOUT_SECONDS + DELIVERY_WAIT_SECONDS + 120))
    try:
        results = soak(args.conversations, args.seconds, args.window_seconds, args.out, seed)
    except HardTimeout:
        print("soak: FAIL (hard timeout or stopped)", flush=True)
        return 1
    finally:
        signal.alarm(0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for line in report_lines(results["figures"]):
        print(line)
    print(f"results: {args.out}")
    print("soak: PASS" if results["passed"] else f"soak: FAIL ({'; '.join(results['reasons'])})", flush=True)
    return 0 if results["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
