"""The populace benchmark: see bench/README.md. Started by ``bench/run`` (which installs wrk and
moto first) with the project's interpreter.

Every figure is the median of ``--reps`` wrk runs of ``--duration`` seconds (after a short
warm-up), and every populace figure is printed as a ratio to two baselines measured in the same
run: the ceiling (bench/ceiling.py) and the peer (moto's Cognito IdP).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import platform
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LUA = BENCH / "lua"
MOTO_BIN = BENCH / ".venv" / "bin"
PYTHON = sys.executable
CONNECTIONS = 32
LIST_CONNECTIONS = 8
LIST_NAME = "team-"
MEMBER_GROUPS = 1000
# Shaped like the SigV4 header the AWS SDK sends; moto reads the service and region from it
# and does not check the signature.
AWS_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/cognito-idp/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)

PEER_NAMES = {"get_group": "GetGroup", "create_group": "CreateGroup"}

console = Console(stderr=True)
if not console.is_terminal:
    console = Console(stderr=True, width=130)


def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


# --------------------------------------------------------------------------------------------
# Processes: every one started in its own session on 127.0.0.1, stopped at the end whatever
# happens (process group SIGTERM, then SIGKILL).


class Processes:
    def __init__(self, log_dir: Path, cwd: Path) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=self.cwd,
                start_new_session=True,
            )
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if process in self.running:
            self.running.remove(process)
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for process in list(reversed(self.running)):
            self.stop(process, timeout=5.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# --------------------------------------------------------------------------------------------
# wrk


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx responses + socket errors + timeouts
    sample: str  # the first non-2xx response, if any


@dataclass
class Measurement:
    key: str
    label: str
    peer: str | None  # the key of the moto baseline it is compared with
    runs: list[Run] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def sample(self) -> str:
        return next((r.sample for r in self.runs if r.sample), "")


@dataclass
class Load:
    """One wrk load: a Lua script, its variables, and the server ports it targets."""

    script: str
    env: dict[str, str]
    connections: int = CONNECTIONS
    ports: list[int] | None = None  # another server than the one measured (the ceiling)


@dataclass
class Settings:
    duration: int
    reps: int
    warmup: int
    users: int
    pg_users: int
    list_populations: int
    quick: bool


def wrk(load: Load, ports: list[int], duration: int, procs: Processes) -> Run:
    """One wrk run. With several ports, one wrk thread per port (see common.lua), so the
    connections are split evenly and the latency histogram covers all of them."""
    env = {
        **load.env,
        "BENCH_LUA_DIR": str(LUA),
        "BENCH_PREFIX": f"b{secrets.token_hex(4)}",
    }
    if len(ports) > 1:
        env["BENCH_PORTS"] = ",".join(str(p) for p in ports)
    command = [
        "wrk", f"-t{len(ports)}", f"-c{load.connections}", f"-d{duration}s", "--timeout", "5s",
        "-s", str(LUA / load.script), f"http://127.0.0.1:{ports[0]}",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
        start_new_session=True,
    )
    procs.running.append(process)  # type: ignore[arg-type]
    try:
        out, _ = process.communicate(timeout=duration + 60)
    finally:
        procs.stop(process)  # type: ignore[arg-type]
    text = out.decode(errors="replace")
    match = re.search(r"^BENCH_RESULT (\{.*\})$", text, re.MULTILINE)
    if process.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{text}")
    r = json.loads(match.group(1))
    errors = (
        r["non2xx"] + r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    )
    sample = r["non2xx_sample"]
    if not sample and errors:
        sample = (
            f"socket errors: connect {r['connect_errors']}, read {r['read_errors']}, "
            f"write {r['write_errors']}, timeout {r['timeouts']}"
        )
    return Run(
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        requests=r["requests"],
        errors=errors,
        sample=sample,
    )


class Bench:
    def __init__(self, settings: Settings, procs: Processes) -> None:
        self.settings = settings
        self.procs = procs

    def measure(self, loads: list[tuple[Measurement, Load]], ports: list[int]) -> list[Measurement]:
        """Warm each load up, then run the loads interleaved, ``reps`` times."""
        s = self.settings
        for measurement, load in loads:
            if s.warmup:
                warm = wrk(load, load.ports or ports, s.warmup, self.procs)
                if warm.errors:
                    log(f"[yellow]warm-up of {measurement.label}: {warm.errors} errors[/yellow]")
        for rep in range(s.reps):
            for measurement, load in loads:
                run = wrk(load, load.ports or ports, s.duration, self.procs)
                measurement.runs.append(run)
                note = f" [red]{run.errors} errors: {run.sample[:120]}[/red]" if run.errors else ""
                log(
                    f"  {measurement.label} [{rep + 1}/{s.reps}]: {run.rps:,.0f} req/s, "
                    f"p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms{note}"
                )
        return [m for m, _ in loads]


# --------------------------------------------------------------------------------------------
# populace


@dataclass
class Credentials:
    environment_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def env(self) -> dict[str, str]:
        return {
            "POPULACE_ADMIN_ENVIRONMENT_ID": self.environment_id,
            "POPULACE_ADMIN_CLIENT_ID": self.client_id,
            "POPULACE_ADMIN_CLIENT_SECRET": self.client_secret,
        }

    def basic(self) -> str:
        return base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()


class Populace:
    """One ``populace serve`` process (one uvicorn worker) on 127.0.0.1."""

    def __init__(self, procs: Processes, database: str, credentials: Credentials, name: str):
        self.procs = procs
        self.database = database
        self.credentials = credentials
        self.name = name
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.settings: dict[str, str] = {}  # more POPULACE_* variables for the next start

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, probe: Callable[[httpx.Client], bool] | None = None) -> float:
        """Start; return seconds until ``probe`` (default: GET /openapi.json) answers 200."""
        command = [
            PYTHON, "-m", "populace", "serve", "--port", str(self.port),
            "--database", self.database, "--workers", "1",
            # Comparable with earlier runs and with the ceiling, which logs nothing.
            "--no-access-log",
        ]  # fmt: skip
        started = time.monotonic()
        self.process = self.procs.start(
            self.name, command, {**self.credentials.env(), **self.settings}
        )
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            deadline = started + 120
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"populace serve exited; see bench/results/logs/{self.name}.log"
                    )
                try:
                    if probe is not None:
                        if probe(client):
                            return time.monotonic() - started
                    elif client.get("/openapi.json").status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.005)
        raise RuntimeError(
            f"populace serve did not answer within 120 s; see bench/results/logs/{self.name}.log"
        )

    def stop(self) -> None:
        if self.process is not None:
            self.procs.stop(self.process)
            self.process = None


@dataclass
class Directory:
    """What the benchmark works on, made over HTTP in a fresh deployment."""

    token: str
    bench_env: str  # POST population, POST user (its default population), GET population
    empty_pop: str  # GET population: no users
    big_pop: str  # GET population: --users users, loaded with `populace import users`
    flip_env: str  # PUT default: two populations taking turns as the default
    flip_a: tuple[str, str]  # (id, name)
    flip_b: tuple[str, str]
    list_env: str  # --list-populations populations named team-00000...
    member_groups: Path | None = None  # ids of MEMBER_GROUPS groups of big_pop's users


def get_token(client: httpx.Client, credentials: Credentials) -> str:
    response = client.post(
        f"/{credentials.environment_id}/as/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _created(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 201:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return dict(response.json())


async def _create_all(url: str, token: str, path: str, bodies: list[dict[str, Any]]) -> list[str]:
    """POST every body to ``path``, 16 at a time; the created ids, in the order of ``bodies``."""
    limits = httpx.Limits(max_connections=16)
    headers = {"Authorization": f"Bearer {token}"}
    ids = [""] * len(bodies)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=600) as c:
        pending = iter(enumerate(bodies))

        async def worker() -> None:
            for index, body in pending:
                ids[index] = str(_created(await c.post(path, json=body))["id"])

        await asyncio.gather(*(worker() for _ in range(16)))
    return ids


async def _create_populations(url: str, token: str, env_id: str, names: list[str]) -> None:
    path = f"/v1/environments/{env_id}/populations"
    await _create_all(url, token, path, [{"name": name} for name in names])


def make_member_groups(server: Populace, d: Directory, users: int, workdir: Path) -> None:
    """MEMBER_GROUPS groups of the big population, each holding a block of its users (a
    ``userFilter`` on a username prefix: members are materialized when the group is made);
    their ids go to a file the memberOfGroups load cycles through."""
    digits = max(0, int(math.log10(max(users // MEMBER_GROUPS, 1))))  # block size 10**digits
    bodies = [
        {
            "name": f"members-{i:04d}",
            "population": {"id": d.big_pop},
            "userFilter": f'username sw "user{f"{i * 10**digits:08d}"[: 8 - digits]}"',
        }
        for i in range(MEMBER_GROUPS)
    ]
    started = time.monotonic()
    path = f"/v1/environments/{d.bench_env}/groups"
    ids = asyncio.run(_create_all(server.url, d.token, path, bodies))
    d.member_groups = workdir / "member-groups.txt"
    d.member_groups.write_text("\n".join(ids) + "\n")
    log(
        f"  created {MEMBER_GROUPS:,} groups of {10**digits:,} users each "
        f"in {time.monotonic() - started:.1f} s"
    )


def make_directory(server: Populace, list_count: int) -> Directory:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        token = get_token(client, server.credentials)
        client.headers["Authorization"] = f"Bearer {token}"
        organization = client.get("/v1/organizations").json()["_embedded"]["organizations"][0]
        licenses = client.get(f"/v1/organizations/{organization['id']}/licenses").json()
        license_id = licenses["_embedded"]["licenses"][0]["id"]

        def environment(name: str) -> str:
            body = {"name": name, "type": "SANDBOX", "region": "NA", "license": {"id": license_id}}
            return str(_created(client.post("/v1/environments", json=body))["id"])

        def population(env_id: str, name: str) -> str:
            path = f"/v1/environments/{env_id}/populations"
            return str(_created(client.post(path, json={"name": name}))["id"])

        bench_env = environment("bench")
        flip_env = environment("bench-flip")
        list_env = environment("bench-list")
        directory = Directory(
            token=token,
            bench_env=bench_env,
            empty_pop=population(bench_env, "empty"),
            big_pop=population(bench_env, "big"),
            flip_env=flip_env,
            flip_a=(population(flip_env, "flip-a"), "flip-a"),
            flip_b=(population(flip_env, "flip-b"), "flip-b"),
            list_env=list_env,
        )
    names = [f"{LIST_NAME}{i:05d}" for i in range(list_count)]
    started = time.monotonic()
    asyncio.run(_create_populations(server.url, token, list_env, names))
    log(f"  created {list_count:,} populations in {time.monotonic() - started:.1f} s")
    return directory


def population_path(env_id: str, pop_id: str) -> str:
    return f"/v1/environments/{env_id}/populations/{pop_id}"


def write_loads(
    d: Directory, credentials: Credentials, list_count: int
) -> list[tuple[Measurement, Load]]:
    token = {"BENCH_TOKEN": d.token}
    pops = f"/v1/environments/{d.bench_env}/populations"
    return [
        (
            Measurement("token", "token issue (POST /as/token)", "get_group"),
            Load(
                "token.lua",
                {
                    "BENCH_PATH": f"/{credentials.environment_id}/as/token",
                    "BENCH_BASIC": credentials.basic(),
                },
            ),
        ),
        (
            Measurement("post_population", "POST population", "create_group"),
            Load("post_population.lua", {**token, "BENCH_PATH": pops}),
        ),
        (
            Measurement("put_default", "PUT population default:true", "create_group"),
            Load(
                "put_default.lua",
                {
                    **token,
                    "BENCH_PATH_A": population_path(d.flip_env, d.flip_a[0]),
                    "BENCH_NAME_A": d.flip_a[1],
                    "BENCH_PATH_B": population_path(d.flip_env, d.flip_b[0]),
                    "BENCH_NAME_B": d.flip_b[1],
                },
            ),
        ),
        (
            Measurement(
                "list_filter",
                f"GET populations, filter name sw (of {list_count:,}), -c{LIST_CONNECTIONS}",
                "get_group",
            ),
            Load(
                "list_filter.lua",
                {
                    **token,
                    "BENCH_PATH": f"/v1/environments/{d.list_env}/populations",
                    "BENCH_LIST_NAME": LIST_NAME,
                    "BENCH_LIST_COUNT": str(list_count),
                },
                connections=LIST_CONNECTIONS,
            ),
        ),
        (
            Measurement("post_user", "POST user", "create_group"),
            Load("post_user.lua", {**token, "BENCH_PATH": f"/v1/environments/{d.bench_env}/users"}),
        ),
    ]


def read_loads(d: Directory, users: int) -> list[tuple[Measurement, Load]]:
    token = {"BENCH_TOKEN": d.token}
    return [
        (
            Measurement("get_population", "GET population (empty)", "get_group"),
            Load("get.lua", {**token, "BENCH_PATH": population_path(d.bench_env, d.empty_pop)}),
        ),
        (
            Measurement("get_population_big", f"GET population ({users:,} users)", "get_group"),
            Load("get.lua", {**token, "BENCH_PATH": population_path(d.bench_env, d.big_pop)}),
        ),
        *member_filter_loads(d),
    ]


def member_filter_loads(d: Directory) -> list[tuple[Measurement, Load]]:
    if d.member_groups is None:
        return []
    label = (
        f"GET users, filter memberOfGroups[id eq] ({MEMBER_GROUPS:,} groups), -c{LIST_CONNECTIONS}"
    )
    return [
        (
            Measurement("member_filter", label, "get_group"),
            Load(
                "member_filter.lua",
                {
                    "BENCH_TOKEN": d.token,
                    "BENCH_PATH": f"/v1/environments/{d.bench_env}/users",
                    "BENCH_IDS_FILE": str(d.member_groups),
                },
                connections=LIST_CONNECTIONS,
            ),
        )
    ]


BENCH_PASSWORD = "Bench-Passw0rd!"  # meets the environment's Standard policy
# Checks are CPU-bound: argon2id's default cost is ~0.6 CPU-seconds a check on this machine
# (3 passes over 64 MiB, 4 lanes). As many connections as populace has hashing threads, so the
# figure is throughput, not time queued behind them (past wrk's 5 s timeout at -c32).
PASSWORD_CONNECTIONS = 4
PASSWORD_USERS = 2 * PASSWORD_CONNECTIONS


def password_check_load(
    server: Populace, d: Directory, workdir: Path, key: str, label: str
) -> tuple[Measurement, Load]:
    """New users of the bench environment with a password hashed by ``server`` as it runs now
    (with its hash cost), and the load that checks their passwords in turn."""
    bodies = []
    for _ in range(PASSWORD_USERS):
        name = f"pw-{secrets.token_hex(6)}"
        password = {"value": BENCH_PASSWORD}
        bodies.append({"username": name, "email": f"{name}@example.com", "password": password})
    users = f"/v1/environments/{d.bench_env}/users"
    ids = asyncio.run(_create_all(server.url, d.token, users, bodies))
    paths = workdir / f"{key}.txt"
    paths.write_text("".join(f"{users}/{user_id}/password\n" for user_id in ids))
    env = {"BENCH_TOKEN": d.token, "BENCH_PATHS_FILE": str(paths), "BENCH_PASSWORD": BENCH_PASSWORD}
    measurement = Measurement(key, f"{label}, -c{PASSWORD_CONNECTIONS}", None)
    return measurement, Load("password_check.lua", env, connections=PASSWORD_CONNECTIONS)


def measure_password_checks(
    bench: Bench, server: Populace, d: Directory, backend: Backend, workdir: Path
) -> None:
    """Password checks at the default argon2id cost, then with the server restarted at the
    cheap cost test suites use (the hash is made, and checked, at the cost in force)."""
    default = password_check_load(
        server, d, workdir, "password_check", "POST password check (argon2id, default cost)"
    )
    bench.measure([default], [server.port])
    server.stop()
    server.settings = {"POPULACE_PASSWORD_HASH_COST": "cheap"}
    server.start(authenticated_probe(d))
    cheap = password_check_load(
        server, d, workdir, "password_check_cheap", "POST password check (argon2id, cheap cost)"
    )
    bench.measure([cheap], [server.port])
    server.stop()
    server.settings = {}
    backend.measurements += [default[0], cheap[0]]


def authenticated_probe(d: Directory) -> Callable[[httpx.Client], bool]:
    path = population_path(d.bench_env, d.empty_pop)
    headers = {"Authorization": f"Bearer {d.token}"}
    return lambda client: client.get(path, headers=headers).status_code == 200


def import_users(database: str, d: Directory, csv_path: Path, procs: Processes) -> float:
    command = [
        PYTHON, "-m", "populace", "import", "users", str(csv_path),
        "-e", d.bench_env, "-p", d.big_pop, "--database", database,
    ]  # fmt: skip
    started = time.monotonic()
    process = procs.start("import", command)
    try:
        process.wait()
    finally:
        procs.stop(process)
    if process.returncode != 0:
        raise RuntimeError(
            f"populace import users failed ({process.returncode}): bench/results/logs/import.log"
        )
    return time.monotonic() - started


def check_user_count(server: Populace, d: Directory, users: int) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get(
            population_path(d.bench_env, d.big_pop),
            headers={"Authorization": f"Bearer {d.token}"},
        )
        response.raise_for_status()
        count = response.json()["userCount"]
        if count != users:
            raise RuntimeError(f"the big population holds {count} users, not {users}")


def write_csv(path: Path, users: int) -> None:
    with path.open("w") as out:
        out.write("username,email\n")
        chunk = 100_000
        for start in range(0, users, chunk):
            out.writelines(
                f"user{i:08d},user{i:08d}@example.com\n"
                for i in range(start, min(users, start + chunk))
            )


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class Backend:
    name: str  # "SQLite, 1 process", ...
    users: int = 0  # in the big population
    measurements: list[Measurement] = field(default_factory=list)
    startup_s: list[float] = field(default_factory=list)
    rss_idle_mb: float | None = None
    rss_loaded_mb: float | None = None
    import_s: float | None = None
    setup_s: float | None = None

    def get(self, key: str) -> Measurement | None:
        return next((m for m in self.measurements if m.key == key), None)


@dataclass
class Report:
    settings: Settings
    started: str
    baselines: list[Measurement] = field(default_factory=list)
    backends: list[Backend] = field(default_factory=list)
    load_before: str = ""
    load_after: str = ""
    wall_s: float = 0.0
    failure: str = ""

    def baseline(self, key: str) -> Measurement | None:
        return next((m for m in self.baselines if m.key == key), None)


def _rps(m: Measurement) -> str:
    return f"{m.rps:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _ratio(value: float, base: Measurement | None) -> str:
    if base is None or not base.runs or base.rps == 0:
        return "—"
    ratio = value / base.rps
    return f"{ratio:.1%}" if ratio < 1 else f"{ratio:.1f}x"


def _errors(m: Measurement) -> str:
    return "0" if m.errors == 0 else f"**{m.errors} INVALID**"


def tables(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each table: shared by the Markdown file and the terminal."""
    out: list[tuple[str, list[str], list[list[str]]]] = []
    ceiling = report.baseline("ceiling")
    out.append(
        (
            "Baselines (same run, same machine)",
            ["baseline", "req/s", "p50 ms", "p99 ms", "errors"],
            [
                [m.label, _rps(m), _ms(m.p50_ms), _ms(m.p99_ms), _errors(m)]
                for m in report.baselines
            ],
        )
    )
    for backend in report.backends:
        rows = []
        for m in backend.measurements:
            if not m.runs:
                continue
            peer = report.baseline(m.peer or "")
            vs_peer = _ratio(m.rps, peer)
            rows.append(
                [
                    m.label,
                    _rps(m),
                    _ms(m.p50_ms),
                    _ms(m.p99_ms),
                    _ratio(m.rps, ceiling),
                    f"{vs_peer} {PEER_NAMES[peer.key]}" if peer else "—",
                    _errors(m),
                ]
            )
        header = ["populace: " + backend.name, "req/s", "p50 ms", "p99 ms", "vs ceiling"]
        out.append((backend.name, [*header, "vs moto", "errors"], rows))
    one = next((b for b in report.backends if b.name == "PostgreSQL, 1 process"), None)
    two = next((b for b in report.backends if b.name == "PostgreSQL, 2 processes"), None)
    if one and two:
        rows = []
        for m1 in one.measurements:
            m2 = two.get(m1.key)
            if m2 and m1.runs and m2.runs:
                rows.append([m1.label, _rps(m1), _rps(m2), f"{m2.rps / m1.rps:.2f}x"])
        out.append(
            (
                "PostgreSQL: one process to two",
                ["measurement", "1 process req/s", "2 processes req/s", "scaling"],
                rows,
            )
        )
    rows = []
    for backend in report.backends:
        if not backend.startup_s and backend.rss_idle_mb is None:
            continue
        startup = (
            f"{statistics.median(backend.startup_s):.2f} s ("
            + ", ".join(f"{s:.2f}" for s in backend.startup_s)
            + ")"
            if backend.startup_s
            else "—"
        )
        rows.append(
            [
                backend.name,
                startup,
                f"{backend.rss_idle_mb:.0f} MB" if backend.rss_idle_mb else "—",
                f"{backend.rss_loaded_mb:.0f} MB" if backend.rss_loaded_mb else "—",
                f"{backend.users:,}" if backend.import_s else "—",
                f"{backend.import_s:.0f} s" if backend.import_s else "—",
            ]
        )
    if rows:
        out.append(
            (
                "Start and memory",
                [
                    "database",
                    "serve → first authenticated 200 (median; runs)",
                    "RSS idle after start",
                    "RSS after the import + GET load",
                    "users imported",
                    "import time",
                ],
                rows,
            )
        )
    out.append(
        ("Targets (issue 5; SQLite, one worker)", ["target", "measured", "met"], targets(report))
    )
    return out


def targets(report: Report) -> list[list[str]]:
    sqlite = next((b for b in report.backends if b.name.startswith("SQLite")), None)
    ceiling, get_group = report.baseline("ceiling"), report.baseline("get_group")
    create_group = report.baseline("create_group")
    rows: list[list[str]] = []

    def row(target: str, measured: str, ok: bool | None, *valid: Measurement | None) -> None:
        if any(m is None or not m.runs for m in valid) or ok is None:
            rows.append([target, "not measured", "—"])
            return
        invalid = any(m.errors for m in valid if m is not None)
        rows.append([target, measured, "INVALID (errors)" if invalid else ("yes" if ok else "NO")])

    if sqlite is None:
        return rows
    get = sqlite.get("get_population")
    big = sqlite.get("get_population_big")
    post = sqlite.get("post_population")
    lst = sqlite.get("list_filter")
    if get and ceiling and ceiling.runs and get.runs:
        row("GET population ≥ 40% of ceiling", f"{get.rps / ceiling.rps:.1%}",
            get.rps >= 0.4 * ceiling.rps, get, ceiling)  # fmt: skip
    if post and ceiling and ceiling.runs and post.runs:
        row("POST population ≥ 10% of ceiling", f"{post.rps / ceiling.rps:.1%}",
            post.rps >= 0.1 * ceiling.rps, post, ceiling)  # fmt: skip
    if post and create_group and create_group.runs and post.runs:
        row("POST population ≥ 10x moto CreateGroup", f"{post.rps / create_group.rps:.1f}x",
            post.rps >= 10 * create_group.rps, post, create_group)  # fmt: skip
    if get and get_group and get_group.runs and get.runs:
        row("GET population ≥ 20x moto GetGroup", f"{get.rps / get_group.rps:.1f}x",
            get.rps >= 20 * get_group.rps, get, get_group)  # fmt: skip
    if get and big and get.runs and big.runs:
        row(f"GET population of {sqlite.users:,} users within 20% of empty",
            f"{big.rps / get.rps:.1%} of empty", big.rps >= 0.8 * get.rps, get, big)  # fmt: skip
    if lst and lst.runs:
        row("list with name filter: p99 < 25 ms at 8 clients", f"p99 {lst.p99_ms:.2f} ms",
            lst.p99_ms < 25, lst)  # fmt: skip
    for backend in report.backends:
        members, empty = backend.get("member_filter"), backend.get("get_population")
        if members and empty and members.runs and empty.runs:
            row(f"{backend.name}: memberOfGroups filter over {backend.users:,} users "
                f"p99 < 50 ms at {LIST_CONNECTIONS} clients",
                f"p99 {members.p99_ms:.2f} ms; {members.rps / empty.rps:.1%} of GET population",
                members.p99_ms < 50, members, empty)  # fmt: skip
    for key in ("password_check", "password_check_cheap"):
        check = sqlite.get(key)
        if check and get and check.runs and get.runs:
            # No target: the figure is reported, as a ratio to GET population.
            rows.append([f"{check.label}: reported, no target",
                         f"{check.rps:,.0f}/s; {check.rps / get.rps:.1%} of GET population",
                         "—" if not check.errors else "INVALID (errors)"])  # fmt: skip
    if sqlite.startup_s:
        median = statistics.median(sqlite.startup_s)
        row("first 200 within 1.0 s of `populace serve`", f"{median:.2f} s", median <= 1.0)
    if sqlite.rss_idle_mb is not None:
        row("idle RSS < 100 MB", f"{sqlite.rss_idle_mb:.0f} MB", sqlite.rss_idle_mb < 100)
    return rows


def markdown(report: Report) -> str:
    s = report.settings
    lines = [
        "# populace benchmark",
        "",
        f"- started {report.started}, took {report.wall_s / 60:.1f} min"
        + (" (**--quick**: smoke run, not for comparison)" if s.quick else ""),
        f"- machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}, "
        f"Python {platform.python_version()}",
        f"- load average before / after: {report.load_before} / {report.load_after}",
        f"- each figure: median of {s.reps} wrk run(s) of {s.duration} s after a {s.warmup} s "
        f"warm-up; `wrk -t1 -c{CONNECTIONS}` (list: `-c{LIST_CONNECTIONS}`; two processes: "
        f"`-t2`, one thread and half the connections per process)",
        f"- users imported into the big population: {s.users:,} (SQLite), {s.pg_users:,} "
        f"(PostgreSQL); {s.list_populations:,} populations in the list environment",
        "- SQLite durability: POPULACE_SQLITE_SYNCHRONOUS="
        + os.environ.get("POPULACE_SQLITE_SYNCHRONOUS", "unset (populace's default)"),
        "- errors: non-2xx responses + socket errors + timeouts over all runs; a row with "
        "errors is not a valid result",
    ]
    if report.failure:
        lines += ["", f"**The run failed:** `{report.failure}` — the tables hold what finished."]
    for title, header, rows in tables(report):
        lines += ["", f"## {title}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    samples = [
        (backend.name, m) for backend in report.backends for m in backend.measurements if m.errors
    ] + [("baseline", m) for m in report.baselines if m.errors]
    if samples:
        lines += ["", "## First error response of each invalid row", ""]
        lines += [f"- {name} / {m.label}: `{m.sample[:300]}`" for name, m in samples]
    return "\n".join(lines) + "\n"


def print_tables(report: Report) -> None:
    out = Console()
    if not out.is_terminal:
        out = Console(width=150)
    for title, header, rows in tables(report):
        table = Table(title=title, title_justify="left")
        for i, column in enumerate(header):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*(cell.replace("**", "") for cell in row))
        out.print(table)


def write_results(report: Report) -> Path:
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    path = results / "latest.md"
    path.write_text(markdown(report))
    (results / "latest.json").write_text(json.dumps(asdict(report), indent=2, default=str))
    return path


# --------------------------------------------------------------------------------------------
# The phases


def peer(bench: Bench, report: Report) -> None:
    """moto's server, Cognito IdP: a user pool and a group made with boto3, then GetGroup and
    CreateGroup through the JSON API."""
    procs = bench.procs
    port = free_port()
    moto = procs.start("moto", [str(MOTO_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
    try:
        wait_for_port(port, moto)
        setup = subprocess.run(
            [str(MOTO_BIN / "python"), str(BENCH / "moto_setup.py"), f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        pool = json.loads(setup.stdout.strip().splitlines()[-1])
        log(f"peer: moto_server, Cognito IdP, user pool {pool['pool']}")
        env = {"BENCH_POOL": pool["pool"], "BENCH_GROUP": pool["group"], "BENCH_AWS_AUTH": AWS_AUTH}
        report.baselines += bench.measure(
            [
                (
                    Measurement("get_group", "moto: Cognito GetGroup", None),
                    Load("cognito_get_group.lua", env),
                ),
                (
                    Measurement("create_group", "moto: Cognito CreateGroup", None),
                    Load("cognito_create_group.lua", env),
                ),
            ],
            [port],
        )
    finally:
        procs.stop(moto)


def start_ceiling(
    procs: Processes, body: bytes, workdir: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """bench/ceiling.py serving ``body`` (what populace answered to GET population)."""
    body_path = workdir / "population.json"
    body_path.write_bytes(body)
    port = free_port()
    command = [PYTHON, str(BENCH / "ceiling.py"), "--port", str(port), "--body", str(body_path)]
    process = procs.start("ceiling", command)
    wait_for_port(port, process)
    return process, port


def phase_sqlite(bench: Bench, report: Report, workdir: Path, csv_path: Path) -> None:
    """SQLite, one process. The ceiling runs interleaved with populace's GET population, so the
    ratio that matters most is measured under the same conditions (this machine is shared)."""
    s = bench.settings
    procs = bench.procs
    database = str(workdir / "populace.db")
    credentials = Credentials()
    backend = Backend("SQLite, 1 process", users=s.users)
    report.backends.append(backend)
    server = Populace(procs, database, credentials, "sqlite-serve")
    ceiling: subprocess.Popen[bytes] | None = None
    try:
        log("SQLite: populace serve on a new database; making the directory")
        server.start()
        started = time.monotonic()
        d = make_directory(server, s.list_populations)
        backend.setup_s = time.monotonic() - started
        log("SQLite: token, writes, list")
        loads = write_loads(d, credentials, s.list_populations)
        backend.measurements += [m for m, _ in loads]
        bench.measure(loads, [server.port])
        server.stop()

        log(f"SQLite: importing {s.users:,} users")
        backend.import_s = import_users(database, d, csv_path, procs)
        log(f"  imported in {backend.import_s:.1f} s")
        startup(server, d, backend)
        check_user_count(server, d, s.users)
        make_member_groups(server, d, s.users, workdir)
        body = httpx.get(
            server.url + population_path(d.bench_env, d.empty_pop),
            headers={"Authorization": f"Bearer {d.token}"},
        ).content
        ceiling, ceiling_port = start_ceiling(procs, body, workdir)
        ceiling_load = (
            Measurement("ceiling", "ceiling: bare Starlette GET, same JSON body", None),
            Load("get.lua", read_loads(d, s.users)[0][1].env, ports=[ceiling_port]),
        )
        loads = read_loads(d, s.users)
        backend.measurements[1:1] = [m for m, _ in loads]
        log("SQLite: GET population (empty, big) and the ceiling, interleaved")
        bench.measure([ceiling_load, *loads], [server.port])
        report.baselines.insert(0, ceiling_load[0])
        backend.rss_loaded_mb = rss_mb(server.pid)
        log("SQLite: password checks, at the default and the cheap hash cost")
        measure_password_checks(bench, server, d, backend, workdir)
    finally:
        if ceiling is not None:
            procs.stop(ceiling)
        server.stop()


def startup(server: Populace, d: Directory, backend: Backend) -> None:
    """Three starts on the existing database, timed to the first authenticated 200; the last
    one keeps serving, and its idle RSS is read a second later."""
    probe = authenticated_probe(d)
    for attempt in range(3):
        server.stop()
        backend.startup_s.append(server.start(probe))
        log(f"  start {attempt + 1}: first 200 after {backend.startup_s[-1]:.3f} s")
    time.sleep(1.0)
    backend.rss_idle_mb = rss_mb(server.pid)
    log(f"  idle RSS {backend.rss_idle_mb:.0f} MB")


def _pg_admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_pg_admin_url(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def pg_database(server_url: str) -> Iterator[str]:
    name = f"populace_bench_{secrets.token_hex(6)}"
    asyncio.run(_pg_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        log(f"PostgreSQL: dropped {name}")


def phase_postgres(bench: Bench, report: Report, pg_url: str, workdir: Path) -> None:
    """PostgreSQL: one process, then two on the same database (one wrk thread each)."""
    s = bench.settings
    procs = bench.procs
    credentials = Credentials()
    one = Backend("PostgreSQL, 1 process", users=s.pg_users)
    two = Backend("PostgreSQL, 2 processes", users=s.pg_users)
    csv_path = workdir / "users-pg.csv"
    write_csv(csv_path, s.pg_users)
    report.backends += [one, two]
    with pg_database(pg_url) as database:
        first = Populace(procs, database, credentials, "pg-serve-1")
        second = Populace(procs, database, credentials, "pg-serve-2")
        try:
            log(f"PostgreSQL: populace serve on a new database {make_url(database).database}")
            first.start()
            started = time.monotonic()
            d = make_directory(first, s.list_populations)
            one.setup_s = time.monotonic() - started
            log("PostgreSQL, 1 process: writes, token, list")
            loads = write_loads(d, credentials, s.list_populations)
            one.measurements += [m for m, _ in loads]
            bench.measure(loads, [first.port])
            second.start()
            log("PostgreSQL, 2 processes: writes, token, list")
            loads = write_loads(d, credentials, s.list_populations)
            two.measurements += [m for m, _ in loads]
            bench.measure(loads, [first.port, second.port])
            first.stop()
            second.stop()

            log(f"PostgreSQL: importing {s.pg_users:,} users")
            one.import_s = import_users(database, d, csv_path, procs)
            log(f"  imported in {one.import_s:.1f} s")
            startup(first, d, one)
            check_user_count(first, d, s.pg_users)
            make_member_groups(first, d, s.pg_users, workdir)
            log("PostgreSQL, 1 process: GET population, empty and big, interleaved")
            loads = read_loads(d, s.pg_users)
            one.measurements[1:1] = [m for m, _ in loads]
            bench.measure(loads, [first.port])
            second.start()
            log("PostgreSQL, 2 processes: GET population, empty and big, interleaved")
            loads = read_loads(d, s.pg_users)
            two.measurements[1:1] = [m for m, _ in loads]
            bench.measure(loads, [first.port, second.port])
            one.rss_loaded_mb = rss_mb(first.pid)
        finally:
            first.stop()
            second.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark populace (see bench/README.md).")
    add = parser.add_argument
    add("--quick", action="store_true", help="smoke run: 3 s runs, 1 rep, small data (~3 min)")
    add("--duration", type=int, help="seconds per wrk run (default 8; quick 3)")
    add("--reps", type=int, help="wrk runs per figure, the median is kept (default 3; quick 1)")
    add("--warmup", type=int, default=1, help="seconds of warm-up per load (default 1)")
    add("--users", type=int, help="users in the big population on SQLite (default 1,000,000)")
    add("--pg-users", type=int, help="... on PostgreSQL (default 100,000: see README)")
    add("--list-populations", type=int, help="populations to list from (default 10,000)")
    add(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="the PostgreSQL server to make a throw-away database on (env BENCH_PG_URL)",
    )
    add("--no-postgres", action="store_true", help="baselines and SQLite only")
    args = parser.parse_args()
    quick = args.quick
    settings = Settings(
        duration=args.duration or (3 if quick else 8),
        reps=args.reps or (1 if quick else 3),
        warmup=args.warmup,
        users=args.users or (20_000 if quick else 1_000_000),
        pg_users=args.pg_users or (20_000 if quick else 100_000),
        list_populations=args.list_populations or (1_000 if quick else 10_000),
        quick=quick,
    )
    if settings.list_populations < 10 or settings.list_populations % 10:
        parser.error("--list-populations must be a multiple of 10")

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    report = Report(settings, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    report.load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    started = time.monotonic()
    code = 0
    with tempfile.TemporaryDirectory(prefix="populace-bench-") as tmp:
        workdir = Path(tmp)
        log_dir = BENCH / "results" / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        for old in log_dir.glob("*.log"):
            old.unlink()
        procs = Processes(log_dir, workdir)
        bench = Bench(settings, procs)
        try:
            csv_path = workdir / "users.csv"
            write_csv(csv_path, settings.users)
            peer(bench, report)
            phase_sqlite(bench, report, workdir, csv_path)
            if not args.no_postgres:
                phase_postgres(bench, report, args.pg_url, workdir)
        except BaseException as error:  # report what finished, then fail
            report.failure = f"{type(error).__name__}: {error}"
            if not isinstance(error, KeyboardInterrupt | SystemExit):
                console.print_exception()
            code = 1
            for path in sorted(log_dir.glob("*.log")):
                tail = path.read_text(errors="replace").splitlines()[-15:]
                if tail:
                    console.print(f"[bold]--- {path.name} (last lines)[/bold]")
                    console.print("\n".join(tail), markup=False, highlight=False)
        finally:
            procs.stop_all()
    report.wall_s = time.monotonic() - started
    report.load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print_tables(report)
    path = write_results(report)
    invalid = [m for b in report.backends for m in b.measurements if m.errors]
    invalid += [m for m in report.baselines if m.errors]
    if invalid:
        console.print(f"[red]{len(invalid)} figure(s) had errors: the run is not valid[/red]")
        code = code or 2
    console.print(f"written to {path.relative_to(ROOT)} in {report.wall_s / 60:.1f} min")
    return code


if __name__ == "__main__":
    sys.exit(main())
