"""A clinic group on one machine, from Debian's packages, for the multi-server test.

PostgreSQL (conversations and bookings), Redis (conversation locks), the staff console (whose
published model the Rasa servers follow), two action servers,
two Rasa servers configured by ``deploy/endpoints.cluster.yml`` and nginx configured by
``deploy/nginx/clinic-assistant.conf``: the files docs/deployment.md tells a clinic to use,
with only the addresses changed to free loopback ports. ``make services`` installs the
packages when they are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from clinic.published_model import URL_PATH
from tools.servers import BIN, ROOT, free_port, rasa_command, server_env, stop_processes, wait_for, wait_until

ENDPOINTS = ROOT / "deploy" / "endpoints.cluster.yml"
NGINX_SITE = ROOT / "deploy" / "nginx" / "clinic-assistant.conf"
NGINX = Path("/usr/sbin/nginx")
REDIS_SERVER = Path("/usr/bin/redis-server")


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries Debian installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise FileNotFoundError("PostgreSQL is not installed: run `make services`")
    return Path(found[-1]).parent


def missing_packages() -> List[str]:
    """The Debian packages the multi-server test needs and this machine lacks."""
    missing = []
    try:
        postgres_bin()
    except FileNotFoundError:
        missing.append("postgresql")
    if not REDIS_SERVER.exists():
        missing.append("redis-server")
    if not NGINX.exists():
        missing.append("nginx")
    return missing


@dataclass
class Process:
    """One server process and its log file."""

    name: str
    command: List[str]
    env: Dict[str, str]
    log: Path
    popen: Optional[subprocess.Popen] = None

    def start(self) -> "Process":
        handle = self.log.open("a")
        self.popen = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT)
        return self

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is not None:
            stop_processes([self.popen], timeout=30)


class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with password login for user ``clinic``.

    The data folder is made outside pytest's private temporary folder, because the server
    runs as the ``postgres`` user when the tests run as root (PostgreSQL refuses root).
    """

    user = "clinic"

    def __init__(self, log_dir: Path) -> None:
        self.password = secrets.token_urlsafe(16)
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="clinic-pg-"))
        self.log = log_dir / "postgres.log"
        self.process: Optional[Process] = None

    def _as_owner(self, command: List[str]) -> List[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def start(self, databases: List[str]) -> "Postgres":
        binaries = postgres_bin()
        (self.home / "password").write_text(self.password)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chmod(self.home, 0o700)
            os.chown(self.home, owner.pw_uid, owner.pw_gid)
            os.chown(self.home / "password", owner.pw_uid, owner.pw_gid)
        subprocess.run(
            self._as_owner(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(self.home / "data"),
                    "-U",
                    self.user,
                    "--no-locale",
                    "-E",
                    "UTF8",
                    f"--pwfile={self.home / 'password'}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ]
            ),
            check=True,
            capture_output=True,
        )
        command = self._as_owner(
            [
                str(binaries / "postgres"),
                "-D",
                str(self.home / "data"),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.home}",
            ]
        )
        self.process = Process("postgres", command, dict(os.environ), self.log).start()
        wait_until(self._ready, 60, what="PostgreSQL")
        import psycopg2

        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True
        with connection.cursor() as cursor:
            for name in databases:
                cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self

    def _ready(self) -> bool:
        if not self.process.running():
            raise RuntimeError(f"PostgreSQL exited; log:\n{self.log.read_text()[-2000:]}")
        import psycopg2

        try:
            psycopg2.connect(self.url("postgres"), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def files_containing(self, needle: str) -> List[str]:
        """The files of every database's tables, indexes and catalogues (``base/`` in the data
        folder) holding ``needle``, once a checkpoint has written every changed page to them. The
        write-ahead log (``pg_wal/``) is not among them."""
        import psycopg2

        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
        connection.close()
        base = self.home / "data" / "base"
        found = []
        for path in base.rglob("*"):
            try:
                content = path.read_bytes() if path.is_file() else b""
            except FileNotFoundError:  # removed or renamed while the folder was read (a relation cache file)
                continue
            if needle.encode() in content:
                found.append(str(path.relative_to(base)))
        return found

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.home, ignore_errors=True)


class Redis:
    """A Redis server on 127.0.0.1 with a password, keeping nothing on disk."""

    def __init__(self, log_dir: Path) -> None:
        self.password = secrets.token_urlsafe(16)
        self.port = free_port()
        self.dir = log_dir / "redis"
        self.dir.mkdir()
        self.process: Optional[Process] = None

    def start(self) -> "Redis":
        command = [
            str(REDIS_SERVER),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--requirepass",
            self.password,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--protected-mode",
            "yes",
        ]
        self.process = Process("redis", command, dict(os.environ), self.dir / "redis.log").start()
        import redis

        def ready() -> bool:
            if not self.process.running():
                raise RuntimeError(f"Redis exited; log:\n{self.process.log.read_text()[-2000:]}")
            try:
                return redis.Redis(port=self.port, password=self.password, socket_timeout=2).ping()
            except redis.exceptions.ConnectionError:
                return False

        wait_until(ready, 30, what="Redis")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def render_nginx_site(site: str, listen_port: int, upstream_ports: List[int]) -> str:
    """The shipped nginx site with its addresses moved to this machine's free ports.

    Adds one header, for the test alone: which Rasa server answered.
    """
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;\n" for port in upstream_ports)
    rendered, upstream_lines = re.subn(r"(?m)^    server 127\.0\.0\.1:\d+ [^\n]*\n", "", site)
    rendered = rendered.replace("upstream clinic_assistant {\n", "upstream clinic_assistant {\n" + servers, 1)
    rendered, listens = re.subn(r"listen 127\.0\.0\.1:\d+;", f"listen 127.0.0.1:{listen_port};", rendered)
    rendered, locations = re.subn(
        r"(proxy_pass http://clinic_assistant;\n)",
        r"\1        add_header X-Served-By $upstream_addr always;\n",
        rendered,
    )
    if not (upstream_lines and listens == 1 and locations == 1):
        raise ValueError("deploy/nginx/clinic-assistant.conf changed shape: update tests/cluster.py")
    return rendered


class Nginx:
    """nginx from Debian's package, run in the foreground with a prefix of its own."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.prefix = log_dir / "nginx"
        self.prefix.mkdir()
        self.process: Optional[Process] = None

    def start(self, upstream_ports: List[int]) -> "Nginx":
        site = self.prefix / "clinic-assistant.conf"
        site.write_text(render_nginx_site(NGINX_SITE.read_text(), self.port, upstream_ports))
        temp = "".join(
            f"    {kind}_temp_path {self.prefix / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        main = self.prefix / "nginx.conf"
        main.write_text(
            f"worker_processes 1;\npid {self.prefix / 'nginx.pid'};\nerror_log {self.prefix / 'error.log'} warn;\n"
            f"events {{ worker_connections 512; }}\nhttp {{\n{temp}    include {site};\n}}\n"
        )
        command = [
            str(NGINX),
            "-p",
            str(self.prefix),
            "-c",
            str(main),
            "-e",
            str(self.prefix / "error.log"),
            "-g",
            "daemon off;",
        ]
        self.process = Process("nginx", command, dict(os.environ), self.prefix / "stdout.log").start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@dataclass
class Cluster:
    """Everything the multi-server test runs, in start order."""

    workdir: Path
    model: Path
    clinic_url: str
    clinic_secret: str
    postgres: Optional[Postgres] = None
    redis: Optional[Redis] = None
    nginx: Optional[Nginx] = None
    actions: List[Process] = field(default_factory=list)
    rasa: List[Process] = field(default_factory=list)
    rasa_ports: List[int] = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    model_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    console: Optional[Process] = None
    console_port: int = 0

    def start(self, servers: int = 2) -> "Cluster":
        try:
            self.postgres = Postgres(self.workdir).start(["clinic_tracker", "clinic_bookings"])
            self.redis = Redis(self.workdir).start()
            # Every process of the group reads one copy of clinic.yml, as on a shared folder.
            shutil.copyfile(ROOT / "clinic.yml", self.profile)
            base = server_env(ACTION_SERVER_TOKEN=self.token, CLINIC_PROFILE=str(self.profile))
            self.start_console(base)
            for number in range(1, servers + 1):
                action_port, rasa_port = free_port(), free_port()
                action_env = dict(
                    base,
                    BOOKINGS_DB_URL=self.postgres.url("clinic_bookings"),
                    CLINIC_BOOKING_WEBHOOK_URL=self.clinic_url,
                    CLINIC_WEBHOOK_SECRET=self.clinic_secret,
                    DELIVERY_RETRY_BASE_SECONDS="0.3",
                    DELIVERY_RETRY_MAX_SECONDS="1",
                    DELIVERY_POLL_SECONDS="0.2",
                    DELIVERY_TIMEOUT_SECONDS="2",
                )
                self.actions.append(
                    Process(
                        f"actions-{number}",
                        [str(BIN / "python"), "-m", "actions.server", "--port", str(action_port)],
                        action_env,
                        self.workdir / f"actions-{number}.log",
                    ).start()
                )
                rasa_env = dict(
                    base,
                    ACTION_SERVER_URL=f"http://127.0.0.1:{action_port}/webhook",
                    TRACKER_DB_URL=self.postgres.url("clinic_tracker"),
                    REDIS_HOST="127.0.0.1",
                    REDIS_PORT=str(self.redis.port),
                    REDIS_PASSWORD=self.redis.password,
                    # nginx is the one proxy in front: the visitor's address is the last
                    # X-Forwarded-For entry it appends.
                    SANIC_PROXIES_COUNT="1",
                    # Every test visitor comes from 127.0.0.1 (test_rate_limits.py checks the limit).
                    WEBSITE_RATE_LIMIT_PER_ADDRESS="off",
                    MODEL_SERVER_URL=f"http://127.0.0.1:{self.console_port}{URL_PATH}",
                    MODEL_SERVER_TOKEN=self.model_token,
                )
                self.rasa.append(
                    Process(
                        f"rasa-{number}",
                        rasa_command(self.served_model, rasa_port, ENDPOINTS),
                        rasa_env,
                        self.workdir / f"rasa-{number}.log",
                    ).start()
                )
                self.rasa_ports.append(rasa_port)
            for process, port in zip(self.actions, self.action_ports, strict=True):
                wait_for(f"http://127.0.0.1:{port}/health", process.popen, process.log)
            for number in range(servers):
                self.wait_for_rasa(number)
            self.nginx = Nginx(self.workdir).start(self.rasa_ports)
            wait_until(self._nginx_ready, 30, what="nginx")
        except Exception:
            self.stop()
            raise
        return self

    @property
    def profile(self) -> Path:
        return self.workdir / "clinic.yml"

    @property
    def served_model(self) -> Path:
        """The console's model file, a copy: its Publish replaces it."""
        return self.workdir / "models" / "clinic-assistant.tar.gz"

    def start_console(self, base: Dict[str, str]) -> None:
        """The staff console on the shared clinic database, with a copy of the topic files and
        model, serving the model to the Rasa servers."""
        self.served_model.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.model, self.served_model)
        shutil.copytree(ROOT / "data", self.workdir / "data")
        self.console_port = free_port()
        self.console = Process(
            "console",
            [str(BIN / "python"), "-m", "console", "--port", str(self.console_port)],
            dict(
                base,
                BOOKINGS_DB_URL=self.postgres.url("clinic_bookings"),
                TRACKER_DB_URL=self.postgres.url("clinic_tracker"),
                CONSOLE_DATA_DIR=str(self.workdir / "data"),
                CONSOLE_MODEL=str(self.served_model),
                MODEL_SERVER_TOKEN=self.model_token,
            ),
            self.workdir / "console.log",
        ).start()
        wait_for(f"http://127.0.0.1:{self.console_port}/login", self.console.popen, self.console.log, timeout=60)

    @property
    def action_ports(self) -> List[int]:
        return [int(process.command[-1]) for process in self.actions]

    def wait_for_rasa(self, number: int) -> None:
        process = self.rasa[number]
        wait_for(f"http://127.0.0.1:{self.rasa_ports[number]}/webhooks/website/config", process.popen, process.log)

    def _nginx_ready(self) -> bool:
        if not self.nginx.process.running():
            raise RuntimeError(f"nginx exited; log:\n{(self.nginx.prefix / 'error.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(self.nginx.url + "/webhooks/website/config", timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def stop_rasa(self, number: int) -> None:
        self.rasa[number].stop()

    def start_rasa(self, number: int) -> None:
        self.rasa[number].start()
        self.wait_for_rasa(number)

    def log_text(self) -> str:
        """Everything every process of the group has logged."""
        logs = [p.log for p in self.actions + self.rasa + ([self.console] if self.console else [])]
        logs += [
            self.workdir / "postgres.log",
            self.workdir / "redis" / "redis.log",
            self.workdir / "nginx" / "error.log",
        ]
        return "\n".join(log.read_text(errors="replace") for log in logs if log.exists())

    def stop(self) -> None:
        for part in [self.nginx, *self.rasa, *self.actions, self.console, self.redis, self.postgres]:
            if part is not None:
                part.stop()
