"""The side-by-side benchmark (`make bench`): this assistant against Rasa's stock starter project.

In one run on this machine, on loopback only:

1. Rasa's starter project is generated with ``rasa init --no-prompt`` in a temporary folder (never
   committed). Both projects are trained cold (an empty Rasa cache) and then retrained after one answer
   is edited (ours: a topic file's answer; stock: ``utter_greet`` in its domain), each timed.
2. Each is served the way it ships: stock with ``rasa run`` and its own endpoints (in-memory tracker,
   no action server); ours as ``make run`` serves it (``scripts/serve.sh``'s commands and environment:
   the action server, the SQLite conversation store, the settings in ``SERVE_ENV`` below), both with the
   REST channel on 127.0.0.1 and the HTTP API off. Ready time: from starting the processes until a
   message gets an answer.
3. Load: a small asyncio client (aiohttp), one new connection per message, the same visitor questions
   for both (``QUESTIONS``), each simulated visitor holding conversations of four messages under a new
   sender id. After a warm-up, at 1 and at 20 concurrent conversations, each repeated ``--repeats``
   times (the two servers taking turns), medians reported: latency p50/p95/p99 and messages per second.
4. Peak resident memory (VmHWM) of each server's processes, summed (ours: Rasa and the action server).
5. The ratio of each figure, ours over stock, against the targets below.
6. Ours alone: from pressing Publish in the staff console after one edited answer to the running
   Rasa server giving the new answer, with visitors asking meanwhile (``tools/publish_timing.py``):
   under 15 s, no visitor request failed.

It appends the run (settings, figures, ratios, the ``--note`` saying what changed) to
``docs/benchmarks.md`` and writes ``results/bench/bench.json``; the last line printed is a one-line summary.
Exit status 0 when every target is met, 1 otherwise (2 when the run itself failed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from tools import publish_timing
from tools.figures import percentile
from tools.servers import free_port, proc_status_kb, rasa_command, server_env, shipped_endpoints, stop_processes

ROOT = Path(__file__).resolve().parent.parent

BIN = Path(sys.executable).parent
LOG = ROOT / "docs" / "benchmarks.md"
SPACY = ROOT / ".spacy"

# What visitors of a clinic's site ask, in their words (the same list for both assistants).
QUESTIONS = (
    "hi",
    "does dry needling hurt?",
    "how many sessions will i need",
    "is it the same as acupuncture?",
    "what should I wear",
    "are there any side effects",
    "how long does a session last?",
    "can it help my lower back pain",
    "what are your opening hours?",
    "how much does it cost",
    "is it safe?",
    "will i be sore afterwards",
    "who does the needling",
    "what is a trigger point",
    "can I come on tuesday?",
    "thanks!",
)
MESSAGES_PER_CONVERSATION = 4
OPEN_TIMEOUT_SECONDS = 600

# The targets: ours over stock.
TARGETS = {
    "throughput_20": (">=", 4.0),
    "p95_20": ("<=", 0.25),
    "p50_1": ("<=", 0.25),
    "ready_seconds": ("<=", 0.5),
    "peak_memory_mb": ("<=", 0.75),
}
RETRAIN_TARGET = 1 / 3  # ours: retraining after one answer under a third of a cold training

# How `make run` serves the assistant (scripts/serve.sh reads the same values).
SERVE_ENV: Dict[str, str] = {}


# --- figures ---------------------------------------------------------------------------------------


def ratio(ours: float, stock: float) -> float:
    return ours / stock if stock else float("inf")


def target_met(name: str, value: float) -> bool:
    sense, bound = TARGETS[name]
    return value >= bound if sense == ">=" else value <= bound


def process_tree(pid: int) -> List[int]:
    """``pid`` and all its descendants (Sanic's worker processes)."""
    children: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


# --- servers ---------------------------------------------------------------------------------------


@dataclass
class Served:
    """One assistant's processes while it is being measured."""

    name: str
    port: int
    processes: List[subprocess.Popen] = field(default_factory=list)
    logs: List[Path] = field(default_factory=list)
    ready_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/rest/webhook"

    def pids(self) -> List[int]:
        return [pid for process in self.processes for pid in process_tree(process.pid)]

    def peak_memory_mb(self) -> float:
        return sum(proc_status_kb(pid, "VmHWM") or 0 for pid in self.pids()) / 1024

    def stop(self) -> None:
        stop_processes(self.processes, timeout=30)


def post_once(url: str, sender: str, text: str, timeout: float = 5) -> Optional[list]:
    import urllib.request

    request = urllib.request.Request(
        url,
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


def start(name: str, commands: List[List[str]], cwd: Path, env: Dict[str, str], port: int, logs: Path) -> Served:
    """Starts the processes together and waits until a message is answered."""
    served = Served(name, port)
    began = time.monotonic()
    for number, command in enumerate(commands):
        log = logs / f"{name}-{number}.log"
        served.logs.append(log)
        served.processes.append(
            subprocess.Popen(command, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        )
    while time.monotonic() - began < OPEN_TIMEOUT_SECONDS:
        if any(p.poll() is not None for p in served.processes):
            served.stop()
            raise RuntimeError(f"{name} exited while starting; see {served.logs}")
        if post_once(served.url, f"ready-{uuid.uuid4()}", "hello"):
            served.ready_seconds = time.monotonic() - began
            return served
        time.sleep(0.1)
    served.stop()
    raise TimeoutError(f"{name} did not answer within {OPEN_TIMEOUT_SECONDS} s")


def serve_stock(project: Path, model: Path, logs: Path) -> Served:
    port = free_port()
    command = [
        str(BIN / "rasa"),
        "run",
        "-m",
        str(model),
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
        "--endpoints",
        "endpoints.yml",
        "--credentials",
        "credentials.yml",
    ]
    return start("stock", [command], project, server_env(), port, logs)


def serve_ours(model: Path, work: Path, logs: Path) -> Served:
    port, action_port = free_port(), free_port()
    (work / "endpoints.yml").write_text(shipped_endpoints(action_port, work / "tracker.db"))
    env = dict(
        server_env(),
        BOOKINGS_DB_URL=f"sqlite:///{work / 'bookings.db'}",
        TRACKER_DB_URL=f"sqlite:///{work / 'tracker.db'}",
        **SERVE_ENV,
    )
    commands = [
        [str(BIN / "python"), "-m", "actions.server", "--port", str(action_port)],
        rasa_command(model, port, work / "endpoints.yml"),
    ]
    return start("ours", commands, ROOT, env, port, logs)


# --- training --------------------------------------------------------------------------------------

# Each project trained as it ships: stock with `rasa train`, ours with what `make train` runs.
TRAIN_COMMANDS = {
    "stock": [str(BIN / "rasa"), "train"],
    "ours": [str(BIN / "python"), "-m", "runtime.train"],
}


def timed_train(name: str, project: Path, cache: Path, out: Path, env: Dict[str, str]) -> float:
    began = time.monotonic()
    completed = subprocess.run(
        [*TRAIN_COMMANDS[name], "--fixed-model-name", "bench", "--out", str(out)],
        cwd=project,
        env=dict(env, RASA_CACHE_DIRECTORY=str(cache)),
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"training in {project} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return time.monotonic() - began


def edit_first(path: Path, pattern: str, replacement: str) -> None:
    text, count = re.subn(pattern, replacement, path.read_text(), count=1)
    if count != 1:
        raise RuntimeError(f"could not edit {path}: {pattern!r} not found")
    path.write_text(text)


def make_stock(work: Path) -> Path:
    project = work / "stock"
    project.mkdir()
    completed = subprocess.run(
        [str(BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(project)],
        cwd=work,
        env=dict(server_env(), RASA_CACHE_DIRECTORY=str(work / "init-cache")),
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0 or not (project / "domain.yml").exists():
        raise RuntimeError(f"rasa init failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return project


def make_ours(work: Path) -> Path:
    project = work / "ours"
    project.mkdir()
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "data", project / "data")
    (project / ".spacy").symlink_to(SPACY)
    return project


def train_both(work: Path) -> Dict[str, Dict[str, float]]:
    """Cold training and retraining after one edited answer, for each project."""
    figures: Dict[str, Dict[str, float]] = {}
    stock, ours = make_stock(work), make_ours(work)
    edits = {  # one answer's wording, as staff would change it
        "stock": (stock / "domain.yml", r"Hey! How are you\?", "Hello! How are you today?"),
        "ours": (ours / "data" / "faq" / "does_it_hurt.yml", r"Most people say", "Most people find"),
    }
    for name, project in (("stock", stock), ("ours", ours)):
        cache, out = work / f"{name}-cache", work / f"{name}-models"
        cold = timed_train(name, project, cache, out, server_env())
        edit_first(*edits[name])
        retrain = timed_train(name, project, cache, out, server_env())
        figures[name] = {"cold_train_seconds": cold, "retrain_seconds": retrain, "model": str(out / "bench.tar.gz")}
    return figures


# --- load ------------------------------------------------------------------------------------------


async def one_level(url: str, conversations: int, messages: int, offset: int) -> Dict[str, float]:
    """``conversations`` visitors at once until ``messages`` are answered; each message on a new connection."""
    import aiohttp

    latencies: List[float] = []
    failures = empty = 0
    remaining = messages
    timeout = aiohttp.ClientTimeout(total=60)

    async def visitor(number: int) -> None:
        nonlocal remaining, failures, empty
        connector = aiohttp.TCPConnector(force_close=True, limit=1)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            turn = offset + number * 7
            while remaining > 0:
                sender = str(uuid.uuid4())
                for _ in range(MESSAGES_PER_CONVERSATION):
                    if remaining <= 0:
                        return
                    remaining -= 1
                    text = QUESTIONS[turn % len(QUESTIONS)]
                    turn += 1
                    began = time.perf_counter()
                    try:
                        async with session.post(url, json={"sender": sender, "message": text}) as answer:
                            body = await answer.json()
                            ok = answer.status == 200 and isinstance(body, list)
                    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                        ok = False
                    if ok:
                        latencies.append(time.perf_counter() - began)
                        empty += not body  # answered, with no message (the bot chose to say nothing)
                    else:
                        failures += 1

    began = time.perf_counter()
    await asyncio.gather(*(visitor(n) for n in range(conversations)))
    wall = time.perf_counter() - began
    return {
        "messages": len(latencies),
        "failures": failures,
        "empty_replies": empty,
        "seconds": wall,
        "per_second": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def median_runs(runs: List[Dict[str, float]]) -> Dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def measure(servers: Sequence[Served], repeats: int, messages_1: int, messages_20: int) -> Dict[str, Dict[str, Dict]]:
    results: Dict[str, Dict[str, List]] = {s.name: {"1": [], "20": []} for s in servers}
    for served in servers:  # warm-up, not counted
        asyncio.run(one_level(served.url, 5, 40, 0))
    for repeat in range(repeats):
        order = list(servers) if repeat % 2 == 0 else list(reversed(servers))
        for level, count in (("1", messages_1), ("20", messages_20)):
            for served in order:
                run = asyncio.run(one_level(served.url, int(level), count, repeat * 3))
                results[served.name][level].append(run)
                print(
                    f"  {served.name:5} {level:>2} conversations, run {repeat + 1}: {run['per_second']:.1f} msg/s, "
                    f"p50 {run['p50_ms']:.0f} ms, p95 {run['p95_ms']:.0f} ms, failures {run['failures']}, "
                    f"empty replies {run['empty_replies']}",
                    flush=True,
                )
    return {
        name: {level: {"runs": runs, "median": median_runs(runs)} for level, runs in levels.items()}
        for name, levels in results.items()
    }


# --- report ----------------------------------------------------------------------------------------


def summarise(figures: Dict[str, Dict[str, float]]) -> Dict[str, Dict[str, float]]:
    """Ratios ours/stock of the figures the targets are set on."""
    ratios = {name: ratio(figures["ours"][name], figures["stock"][name]) for name in TARGETS}
    return {name: {"ratio": value, "met": target_met(name, value)} for name, value in ratios.items()}


def table(figures: Dict[str, Dict[str, float]], verdicts: Dict[str, Dict[str, float]]) -> List[str]:
    rows = [
        ("messages/s at 20 conversations", "throughput_20", "{:.1f}"),
        ("p50 latency at 1 conversation (ms)", "p50_1", "{:.0f}"),
        ("p95 latency at 1 conversation (ms)", "p95_1", "{:.0f}"),
        ("p99 latency at 1 conversation (ms)", "p99_1", "{:.0f}"),
        ("messages/s at 1 conversation", "throughput_1", "{:.1f}"),
        ("p50 latency at 20 conversations (ms)", "p50_20", "{:.0f}"),
        ("p95 latency at 20 conversations (ms)", "p95_20", "{:.0f}"),
        ("p99 latency at 20 conversations (ms)", "p99_20", "{:.0f}"),
        ("ready after start (s)", "ready_seconds", "{:.1f}"),
        ("peak resident memory (MB)", "peak_memory_mb", "{:.0f}"),
        ("cold training (s)", "cold_train_seconds", "{:.1f}"),
        ("retraining after one edited answer (s)", "retrain_seconds", "{:.1f}"),
    ]
    lines = ["| figure | stock | ours | ours/stock | target |", "|---|---|---|---|---|"]
    for label, key, form in rows:
        ours, stock = figures["ours"][key], figures["stock"][key]
        target = ""
        if key in verdicts:
            sense, bound = TARGETS[key]
            target = f"{sense} {bound:g}: {'met' if verdicts[key]['met'] else 'MISSED'}"
        lines.append(f"| {label} | {form.format(stock)} | {form.format(ours)} | {ratio(ours, stock):.2f} | {target} |")
    return lines


def flatten(served: Served, levels: Dict[str, Dict], training: Dict[str, float]) -> Dict[str, float]:
    one, twenty = levels["1"]["median"], levels["20"]["median"]
    return {
        "throughput_20": twenty["per_second"],
        "p50_20": twenty["p50_ms"],
        "p95_20": twenty["p95_ms"],
        "p99_20": twenty["p99_ms"],
        "throughput_1": one["per_second"],
        "p50_1": one["p50_ms"],
        "p95_1": one["p95_ms"],
        "p99_1": one["p99_ms"],
        "ready_seconds": served.ready_seconds,
        "peak_memory_mb": served.peak_memory_mb(),
        "failures": one["failures"] + twenty["failures"],
        "cold_train_seconds": training["cold_train_seconds"],
        "retrain_seconds": training["retrain_seconds"],
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--messages-1", type=int, default=60, help="messages per run at 1 conversation")
    parser.add_argument("--messages-20", type=int, default=400, help="messages per run at 20 conversations")
    parser.add_argument("--note", default="", help="what changed since the last run, for docs/benchmarks.md")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "bench.json")
    parser.add_argument("--no-log", action="store_true", help="do not append to docs/benchmarks.md")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="clinic-bench-"))
    logs = args.out.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    servers: List[Served] = []
    try:
        print(
            "bench: generating Rasa's starter project and training both, cold then after one edited answer", flush=True
        )
        training = train_both(work)
        for name in ("stock", "ours"):
            print(
                f"  {name:5} cold training {training[name]['cold_train_seconds']:.1f} s, "
                f"retraining {training[name]['retrain_seconds']:.1f} s",
                flush=True,
            )
        # Each is started alone, so neither's start is slowed by the other's.
        stock = serve_stock(work / "stock", Path(training["stock"]["model"]), logs)
        servers.append(stock)
        print(f"  stock ready in {stock.ready_seconds:.1f} s", flush=True)
        ours = serve_ours(Path(training["ours"]["model"]), work, logs)
        servers.append(ours)
        print(f"  ours  ready in {ours.ready_seconds:.1f} s", flush=True)
        levels = measure(servers, args.repeats, args.messages_1, args.messages_20)
        figures = {s.name: flatten(s, levels[s.name], training[s.name]) for s in servers}
        for served in servers:
            served.stop()
        print("bench: publishing an edited answer from the staff console, visitors asking meanwhile", flush=True)
        publishing = publish_timing.measure(Path(training["ours"]["model"]), work / "publish")
        figures["ours"].update(publishing)
        print("  " + publish_timing.summary(publishing), flush=True)
    except Exception as failure:  # noqa: BLE001 - the run itself failed: say why, keep nothing half-written
        print(f"bench: FAILED TO RUN: {failure}", flush=True)
        return 2
    finally:
        for served in servers:
            served.stop()
        shutil.rmtree(work, ignore_errors=True)

    verdicts = summarise(figures)
    retrain_share = figures["ours"]["retrain_seconds"] / figures["ours"]["cold_train_seconds"]
    retrain_met = retrain_share < RETRAIN_TARGET
    lines = table(figures, verdicts)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    publish_met = publish_timing.met(figures["ours"])
    missed = (
        [name for name, verdict in verdicts.items() if not verdict["met"]]
        + ([] if retrain_met else ["retrain"])
        + ([] if publish_met else ["publish"])
    )
    failures = figures["ours"]["failures"] + figures["stock"]["failures"]
    summary = (
        f"bench: ours/stock throughput@20 {verdicts['throughput_20']['ratio']:.2f}x (>= 4), "
        f"p95@20 {verdicts['p95_20']['ratio']:.2f} (<= 0.25), p50@1 {verdicts['p50_1']['ratio']:.2f} (<= 0.25), "
        f"ready {verdicts['ready_seconds']['ratio']:.2f} (<= 0.5), memory {verdicts['peak_memory_mb']['ratio']:.2f} (<= 0.75), "
        f"retrain/cold {retrain_share:.2f} (< 0.33), publish to live {figures['ours']['publish_seconds_max']:.1f} s "
        f"(< {publish_timing.TARGET_SECONDS:g}, {figures['ours']['publish_failed_requests']} failed), "
        f"failed requests {failures}: "
        + ("ALL TARGETS MET" if not missed and not failures else "MISSED " + ", ".join(missed or ["(failed requests)"]))
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "when": when,
                "note": args.note,
                "figures": figures,
                "verdicts": verdicts,
                "retrain_share": retrain_share,
                "levels": levels,
                "settings": {
                    "repeats": args.repeats,
                    "messages_1": args.messages_1,
                    "messages_20": args.messages_20,
                    "serve_env": SERVE_ENV,
                },
                "summary": summary,
            },
            indent=2,
        )
    )
    if not args.no_log:
        with LOG.open("a") as log:
            log.write(
                f"\n## {when}: {args.note or 'no note'}\n\n"
                f"{args.repeats} repeats, {args.messages_1} messages at 1 conversation and {args.messages_20} "
                f"at 20 per run, medians. Served with {SERVE_ENV or 'the defaults'}.\n\n"
                + "\n".join(lines)
                + f"\n\nRetraining after one edited answer: {retrain_share:.2f} of a cold "
                f"training (target under 0.33).\n\n{publish_timing.summary(figures['ours'])}.\n\n`{summary}`\n"
            )
    print("\n".join(lines))
    print(summary)
    return 0 if not missed and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
