"""Starts the real action server and Rasa server for end-to-end tests, on free loopback ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(**extra: str) -> Dict[str, str]:
    """The environment every server started here gets (as the Makefile and scripts/serve.sh set it), plus ``extra``."""
    return dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        RASA_TELEMETRY_ENABLED="false",
        **extra,
    )


def proc_status_kb(pid: int, key: str) -> Optional[int]:
    """A kB figure (``VmRSS``, ``VmHWM``...) from /proc/<pid>/status, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: Optional[str] = None) -> bool:
    """Polls ``condition`` until it is true or ``timeout`` seconds pass; returns whether it became
    true. With ``what``, a timeout raises ``TimeoutError`` naming it instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    if condition():
        return True
    if what is not None:
        raise TimeoutError(f"{what}: not ready after {timeout:.0f}s")
    return False


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 240.0) -> None:
    """Waits until ``url`` answers 200, failing early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; log:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s; log:\n{log.read_text()[-3000:]}")


def rasa_command(
    model: Path, port: int, endpoints: Path, credentials: Path = ROOT / "credentials.yml", extra: Sequence[str] = ()
) -> List[str]:
    """How the project starts Rasa (``python -m runtime.serve``) on loopback ``port``."""
    return [
        str(BIN / "python"),
        "-m",
        "runtime.serve",
        "run",
        "-m",
        str(model),
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(credentials),
        *extra,
    ]


def shipped_endpoints(
    action_port: int, tracker_db: Path, token: Optional[str] = None, model_server: Optional[Dict[str, Any]] = None
) -> str:
    """The project's endpoints.yml as shipped, pointed at a test's action server port and
    conversation file (and sending the action server's token when there is one); with
    ``model_server`` (its ``models:`` section), following a console's published model."""
    import yaml

    config = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    config["action_endpoint"]["url"] = f"http://127.0.0.1:{action_port}/webhook"
    if token:
        config["action_endpoint"]["headers"] = {"Authorization": f"Bearer {token}"}
    config["tracker_store"]["db"] = str(tracker_db)
    if model_server:
        config["models"] = model_server
    return yaml.safe_dump(config, sort_keys=False)


def model_server_section(console_port: int, token: str, seconds: int = 1) -> Dict[str, Any]:
    """The ``models:`` section that has a Rasa server follow the console on ``console_port``."""
    from clinic.published_model import URL_PATH

    return {
        "url": f"http://127.0.0.1:{console_port}{URL_PATH}",
        "headers": {"Authorization": f"Bearer {token}"},
        "wait_time_between_pulls": seconds,
    }


def stop_processes(processes: List[subprocess.Popen], timeout: float) -> None:
    """SIGTERM to every process still running, then waits up to ``timeout`` for each; one
    that does not stop is killed."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class RunningAssistant:
    """The two servers, as started by ``start_assistant``."""

    rasa_port: int
    action_port: int
    processes: List[subprocess.Popen] = field(default_factory=list)
    logs: List[Path] = field(default_factory=list)
    commands: Dict[str, List[str]] = field(default_factory=dict)
    env: Dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def request(self, method: str, path: str, body: Optional[bytes] = None, headers=None):
        """Sends one HTTP request; returns ``(status, parsed JSON or raw text)``."""
        req = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def say(self, sender: str, message: str) -> List[Dict[str, Any]]:
        """Sends a visitor message through the REST channel; returns the bot's messages."""
        body = json.dumps({"sender": sender, "message": message}).encode()
        status, replies = self.request("POST", "/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
        assert status == 200, (status, replies)
        return replies

    def restart_actions(self) -> None:
        """Stops the action server (SIGTERM) and starts it again on the same port."""
        old = self.processes[0]
        old.terminate()
        old.wait(timeout=30)
        log = self.logs[0].with_name(f"actions-{len(self.logs)}.log")
        self.logs.append(log)
        self.processes[0] = subprocess.Popen(
            self.commands["actions"], cwd=ROOT, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        wait_for(f"http://127.0.0.1:{self.action_port}/health", self.processes[0], log)

    def stop_rasa(self) -> None:
        """Stops the Rasa server (SIGTERM), leaving the action server running."""
        self.processes[1].terminate()
        self.processes[1].wait(timeout=30)

    def start_rasa(self) -> None:
        """Starts the Rasa server again on the same port and waits until it answers."""
        log = self.logs[1].with_name(f"rasa-{len(self.logs)}.log")
        self.logs.append(log)
        self.processes[1] = subprocess.Popen(
            self.commands["rasa"], cwd=ROOT, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        wait_for(f"{self.base_url}/webhooks/rest/", self.processes[1], log)

    def log_text(self) -> str:
        """Everything every server process has logged so far."""
        return "\n".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def stop(self) -> None:
        stop_processes(self.processes, timeout=20)


def start_assistant(
    model: Path,
    workdir: Path,
    env: Optional[Dict[str, str]] = None,
    rasa_args: Optional[List[str]] = None,
    credentials: Optional[Path] = None,
    model_server: Optional[Dict[str, Any]] = None,
) -> RunningAssistant:
    """Starts the action server and Rasa (REST channel, HTTP API off) with ``model``.

    ``rasa_args`` adds options to ``rasa run`` (a test of the HTTP API with its credentials);
    ``credentials`` replaces the project's credentials.yml (its channels).

    ``model_server`` is the ``models:`` section of its endpoints (``model_server_section``).

    ``env`` adds environment variables (booking store, clinic endpoint...) for both servers;
    the booking store defaults to an SQLite file in ``workdir``.
    """
    assistant = RunningAssistant(rasa_port=free_port(), action_port=free_port())
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        shipped_endpoints(
            assistant.action_port, workdir / "tracker.db", (env or {}).get("ACTION_SERVER_TOKEN"), model_server
        )
    )
    env = server_env(
        **{
            "BOOKINGS_DB_URL": f"sqlite:///{workdir / 'bookings.db'}",
            # The action server's retention and the staff command line find the conversations here.
            "TRACKER_DB_URL": f"sqlite:///{workdir / 'tracker.db'}",
            **(env or {}),
        }
    )
    assistant.env = env
    commands = {
        "actions": [str(BIN / "python"), "-m", "actions.server", "--port", str(assistant.action_port)],
        "rasa": rasa_command(
            model, assistant.rasa_port, endpoints, credentials or ROOT / "credentials.yml", rasa_args or ()
        ),
    }
    assistant.commands = commands
    try:
        for name, command in commands.items():
            log = workdir / f"{name}.log"
            assistant.logs.append(log)
            handle = log.open("w")
            assistant.processes.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
            )
        wait_for(f"http://127.0.0.1:{assistant.action_port}/health", assistant.processes[0], assistant.logs[0])
        wait_for(f"{assistant.base_url}/webhooks/rest/", assistant.processes[1], assistant.logs[1])
    except Exception:
        assistant.stop()
        raise
    return assistant


@dataclass
class RunningConsole:
    """The staff console's process, as started by ``start_console``."""

    port: int
    process: subprocess.Popen
    log: Path
    env: Dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def staff(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """Runs ``python -m actions.staff ARGS`` on the console's database, as staff type it."""
        return subprocess.run(
            [str(BIN / "python"), "-m", "actions.staff", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def add_user(self, name: str, password: str, role: str = "staff") -> None:
        """Adds a console account as staff do, the password piped in (``add-user --password-stdin``)."""
        added = self.staff("add-user", name, "--role", role, "--password-stdin", stdin=password + "\n")
        if added.returncode != 0:
            raise RuntimeError(f"add-user {name} failed: {added.stderr}")

    def stop(self) -> None:
        stop_processes([self.process], timeout=20)


def start_console(workdir: Path, env: Optional[Dict[str, str]] = None, port: Optional[int] = None) -> RunningConsole:
    """Starts ``python -m console`` (the staff console) on a free port, with its database
    (``BOOKINGS_DB_URL``) and the conversation store its inbox reads (``TRACKER_DB_URL``, none
    until something writes it) in ``workdir`` unless ``env`` names others; waits until /login
    answers. Its topic files are the project's unless ``env`` sets ``CONSOLE_DATA_DIR``: a test
    that changes them gives a copy."""
    port = port or free_port()
    env = server_env(
        **{
            "BOOKINGS_DB_URL": f"sqlite:///{workdir / 'bookings.db'}",
            "TRACKER_DB_URL": f"sqlite:///{workdir / 'tracker.db'}",
            "CONSOLE_PORT": str(port),
            **(env or {}),
        }
    )
    log = workdir / "console.log"
    process = subprocess.Popen(
        [str(BIN / "python"), "-m", "console"], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    console = RunningConsole(port=port, process=process, log=log, env=env)
    try:
        wait_for(f"{console.base_url}/login", process, log, timeout=60)
    except Exception:
        console.stop()
        raise
    return console
