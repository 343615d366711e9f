"""Sign-on's cost (bench/README.md, "Sign-on"): complete authorization-code flows per second,
each a ratio to client-credentials tokens per second measured in the same run against the same
server, at the cheap password-hash cost and at the default (standard) one.

A flow is the getting-started guide's Task 3, steps 4-7: ``GET /{envID}/as/authorize`` with
``response_mode=pi.flow``, ``POST /{envID}/flows/{flowID}`` (``usernamePassword.check``),
``GET /{envID}/as/resume`` with the ST cookie, ``POST /{envID}/as/token``
(``authorization_code``, HTTP Basic). Target: with the cheap cost, a flow costs at most 5x a
client-credentials token.

    .venv/bin/python bench/sign_on.py [--duration 5] [--reps 3] [--clients 8]
                                      [--database postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from run import BENCH, ROOT, Credentials, Populace, Processes, get_token, log

CALLBACK = "http://localhost:3000/callback"
PASSWORD = "2FederateM0re!"
CHECK = "application/vnd.pingidentity.usernamePassword.check+json"
COSTS = ("cheap", "standard")  # POPULACE_PASSWORD_HASH_COST
TARGET = 5.0  # a flow costs at most this many client-credentials tokens (cheap cost)
STEPS = ("authorize", "check", "resume", "token")
TIMEOUT = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Failed(Exception):
    """A response other than the one the flow needs (counted as an error, the first quoted)."""


# --------------------------------------------------------------------------------------------
# CPU of the server: every process of its group (``populace serve`` is started in a session
# of its own), read from /proc; the database server's own CPU (PostgreSQL) is not in it.


def group_cpu_seconds(pgid: int) -> float:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


# --------------------------------------------------------------------------------------------
# The load: ``clients`` httpx clients, each its own connection, in one event loop.


@dataclass
class Window:
    """One measurement: operations completed in a fixed duration by every client."""

    ops: int = 0
    errors: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0  # share of one core the load generator used
    server_cpu_s: float = 0.0  # CPU seconds of the server's processes
    steps: dict[str, list[float]] = field(default_factory=dict)  # seconds per step
    sample: str = ""

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    @property
    def server_ms_per_op(self) -> float:
        return 1000 * self.server_cpu_s / max(self.ops, 1)


@dataclass
class Target:
    """What the flows work on: made over HTTP on the running server."""

    url: str
    credentials: Credentials
    env_id: str
    app_id: str
    app_secret: str
    usernames: list[str]


Operation = Callable[[httpx.AsyncClient, int, Window], Awaitable[None]]


def expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        request = response.request
        raise Failed(
            f"{request.method} {request.url.path} -> {response.status_code}: {response.text[:300]}"
        )
    return response


def client_credentials(t: Target) -> Operation:
    path = f"/{t.credentials.environment_id}/as/token"
    auth = (t.credentials.client_id, t.credentials.client_secret)

    async def token(client: httpx.AsyncClient, _: int, window: Window) -> None:
        response = await client.post(path, data={"grant_type": "client_credentials"}, auth=auth)
        expect(response, 200)

    return token


def sign_on_flow(t: Target) -> Operation:
    """The guide's Task 3 steps 4-7, client ``i`` signing on as user ``i``."""
    env = t.env_id
    params = {
        "response_type": "code",
        "client_id": t.app_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "response_mode": "pi.flow",
    }

    async def flow(client: httpx.AsyncClient, i: int, window: Window) -> None:
        times = window.steps
        started = time.perf_counter()
        flow = expect(await client.get(f"/{env}/as/authorize", params=params), 200).json()
        checked_at = time.perf_counter()
        checked = await client.post(
            f"/{env}/flows/{flow['id']}",
            content=json.dumps({"username": t.usernames[i], "password": PASSWORD}),
            headers={"Content-Type": CHECK},
        )
        client.cookies.clear()  # the next authorize must ask for the password again
        if expect(checked, 200).json().get("status") != "COMPLETED":
            raise Failed(f"the flow did not complete: {checked.text[:300]}")
        resumed_at = time.perf_counter()
        resumed = await client.get(
            f"/{env}/as/resume",
            params={"flowId": flow["id"]},
            headers={"Cookie": f"ST={checked.cookies['ST']}"},
        )
        code = expect(resumed, 200).json()["authorizeResponse"]["code"]
        token_at = time.perf_counter()
        tokens = await client.post(
            f"/{env}/as/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
            auth=(t.app_id, t.app_secret),
        )
        if "id_token" not in expect(tokens, 200).json():
            raise Failed(f"no id_token: {tokens.text[:300]}")
        ended = time.perf_counter()
        marks = (started, checked_at, resumed_at, token_at, ended)
        for step, begin, end in zip(STEPS, marks, marks[1:], strict=False):
            times.setdefault(step, []).append(end - begin)
        times.setdefault("flow", []).append(ended - started)

    return flow


async def _window(url: str, clients: int, seconds: float, op: Operation, pgid: int) -> Window:
    window = Window()
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client:
            while time.perf_counter() < deadline:
                try:
                    await op(client, i, window)
                    window.ops += 1
                except (Failed, httpx.HTTPError, KeyError, ValueError) as error:
                    window.errors += 1
                    window.sample = window.sample or f"{type(error).__name__}: {error}"
                    client.cookies.clear()

    cpu, server_cpu, started = time.process_time(), group_cpu_seconds(pgid), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    window.seconds = time.perf_counter() - started  # operations started before the deadline
    window.client_cpu = (time.process_time() - cpu) / window.seconds
    window.server_cpu_s = group_cpu_seconds(pgid) - server_cpu
    return window


def measure(server: Populace, clients: int, seconds: float, op: Operation) -> Window:
    return asyncio.run(_window(server.url, clients, seconds, op, server.pid))


# --------------------------------------------------------------------------------------------
# Setup over HTTP: an environment, a Web app, and (per hash cost) ``clients`` users whose
# passwords are hashed at the cost the server runs with.


def make_target(server: Populace, credentials: Credentials) -> Target:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as c:
        c.headers["Authorization"] = f"Bearer {get_token(c, credentials)}"
        organization = expect(c.get("/v1/organizations"), 200).json()
        org_id = organization["_embedded"]["organizations"][0]["id"]
        licenses = expect(c.get(f"/v1/organizations/{org_id}/licenses"), 200).json()
        license_id = licenses["_embedded"]["licenses"][0]["id"]
        env = c.post(
            "/v1/environments",
            json={
                "name": f"sign-on-{time.time_ns()}",
                "type": "SANDBOX",
                "region": "NA",
                "license": {"id": license_id},
            },
        )
        env_id = expect(env, 201).json()["id"]
        app = c.post(
            f"/v1/environments/{env_id}/applications",
            json={
                "enabled": True,
                "name": "Sign-on bench",
                "type": "WEB_APP",
                "protocol": "OPENID_CONNECT",
                "grantTypes": ["AUTHORIZATION_CODE"],
                "redirectUris": [CALLBACK],
                "responseTypes": ["CODE"],
                "tokenEndpointAuthMethod": "CLIENT_SECRET_BASIC",
            },
        )
        app_id = expect(app, 201).json()["id"]
        secret = c.get(f"/v1/environments/{env_id}/applications/{app_id}/secret")
        app_secret = expect(secret, 200).json()["secret"]
    return Target(server.url, credentials, env_id, app_id, app_secret, [])


def make_users(t: Target, clients: int, cost: str) -> list[str]:
    """One user per client (a password is checked under its user's lockout counter)."""
    names = []
    with httpx.Client(base_url=t.url, timeout=TIMEOUT) as c:
        c.headers["Authorization"] = f"Bearer {get_token(c, t.credentials)}"
        for i in range(clients):
            name = f"{cost}-{i}-{time.time_ns()}"
            body = {
                "username": name,
                "email": f"{name}@example.com",
                "password": {"value": PASSWORD},
            }
            expect(c.post(f"/v1/environments/{t.env_id}/users", json=body), 201)
            names.append(name)
    return names


# --------------------------------------------------------------------------------------------
# The run and its report


@dataclass
class Result:
    cost: str
    tokens: list[Window] = field(default_factory=list)
    flows: list[Window] = field(default_factory=list)

    def median(self, windows: list[Window], value: Callable[[Window], float]) -> float:
        return statistics.median(value(w) for w in windows)

    @property
    def token_rate(self) -> float:
        return self.median(self.tokens, lambda w: w.rate)

    @property
    def flow_rate(self) -> float:
        return self.median(self.flows, lambda w: w.rate)

    @property
    def ratio(self) -> float:
        """How many client-credentials tokens one flow costs, in throughput."""
        return self.token_rate / self.flow_rate

    @property
    def cpu_ratio(self) -> float:
        """The same in the server's CPU per operation."""
        flow = self.median(self.flows, lambda w: w.server_ms_per_op)
        return flow / self.median(self.tokens, lambda w: w.server_ms_per_op)

    def step_ms(self, step: str) -> float:
        """The median over reps of each rep's median time for ``step``."""
        return 1000 * self.median(
            self.flows, lambda w: statistics.median(w.steps.get(step) or [math.nan])
        )

    @property
    def errors(self) -> int:
        return sum(w.errors for w in self.tokens + self.flows)


def run_cost(server: Populace, t: Target, cost: str, args: argparse.Namespace) -> Result:
    result = Result(cost)
    t.usernames = make_users(t, args.clients, cost)
    loads = [
        ("client-credentials token", client_credentials(t), result.tokens),
        ("sign-on flow", sign_on_flow(t), result.flows),
    ]
    for label, op, _ in loads:
        if args.warmup:
            warm = measure(server, args.clients, args.warmup, op)
            if warm.errors:
                log(f"[yellow]warm-up of {label}: {warm.errors} errors: {warm.sample}[/yellow]")
    for rep in range(args.reps):
        for label, op, windows in loads:
            w = measure(server, args.clients, args.duration, op)
            windows.append(w)
            note = f" [red]{w.errors} errors: {w.sample[:160]}[/red]" if w.errors else ""
            log(
                f"  {cost}: {label} [{rep + 1}/{args.reps}]: {w.rate:,.1f}/s "
                f"({w.ops} in {w.seconds:.1f} s), server CPU {w.server_ms_per_op:.2f} ms/op, "
                f"load generator CPU {w.client_cpu:.0%}{note}"
            )
    return result


def markdown(results: list[Result], args: argparse.Namespace, header: dict[str, str]) -> str:
    lines = [f"# Sign-on flows vs client-credentials tokens ({header['date']})", ""]
    lines += [f"- {name}: {value}" for name, value in header.items() if name != "date"]
    lines += [
        "",
        "| hash cost | client-credentials tokens/s | flows/s | flow / token (throughput) "
        "| server CPU ms: token / flow | flow / token (server CPU) | target ≤ 5x | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        token_cpu = r.median(r.tokens, lambda w: w.server_ms_per_op)
        flow_cpu = r.median(r.flows, lambda w: w.server_ms_per_op)
        met = "INVALID (errors)" if r.errors else ("yes" if r.ratio <= TARGET else "NO")
        target = met if r.cost == "cheap" else "—"
        lines.append(
            f"| {r.cost} | {r.token_rate:,.0f} | {r.flow_rate:,.1f} | {r.ratio:.1f}x "
            f"| {token_cpu:.2f} / {flow_cpu:.2f} | {r.cpu_ratio:.1f}x | {target} | {r.errors} |"
        )
    lines += [
        "",
        "| hash cost | " + " | ".join(f"{s} p50 ms" for s in (*STEPS, "flow")) + " |",
        "|---|" + "---:|" * (len(STEPS) + 1),
    ]
    for r in results:
        cells = " | ".join(f"{r.step_ms(s):.1f}" for s in (*STEPS, "flow"))
        lines.append(f"| {r.cost} | {cells} |")
    samples = [w.sample for r in results for w in r.tokens + r.flows if w.sample]
    if samples:
        lines += ["", f"First error: `{samples[0]}`"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    add("--reps", type=int, default=3, help="measurements per figure, the median kept (3)")
    add("--warmup", type=float, default=1.0, help="seconds of unrecorded load per load (1)")
    add("--clients", type=int, default=8, help="concurrent httpx clients (default 8)")
    add(
        "--database",
        help="an EMPTY database for populace serve (e.g. postgresql://postgres@127.0.0.1:5432/"
        "bench_signon); default a new SQLite file in a temporary directory",
    )
    args = parser.parse_args()
    postgres = (args.database or "").startswith("postgres")
    header = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["bench/sign_on.py", *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        "database": "PostgreSQL" if postgres else f"SQLite ({args.database or 'a new file'})",
        "load": f"{args.clients} httpx clients (one event loop), {args.duration:g} s per "
        f"measurement after {args.warmup:g} s of warm-up, median of {args.reps}; one "
        "`populace serve` worker, `--no-access-log`",
        "load average before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    log_dir = BENCH / "results" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    code = 0
    with tempfile.TemporaryDirectory(prefix="populace-bench-") as folder:
        database = args.database or str(Path(folder) / "sign_on.db")
        procs = Processes(log_dir, Path(folder))
        credentials = Credentials()
        server = Populace(procs, database, credentials, "sign_on-serve")
        try:
            target: Target | None = None
            for cost in COSTS:
                server.settings = {"POPULACE_PASSWORD_HASH_COST": cost}
                log(f"populace serve with POPULACE_PASSWORD_HASH_COST={cost}")
                server.start()
                target = target or make_target(server, credentials)
                results.append(run_cost(server, target, cost, args))
                server.stop()
        except BaseException as error:
            log(f"[red]failed: {type(error).__name__}: {error}[/red]")
            log(f"server log: {(log_dir / 'sign_on-serve.log').relative_to(ROOT)}")
            code = 1
            if not results:
                raise
        finally:
            procs.stop_all()
    header["load average after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    report = markdown(results, args, header)
    print(report)
    out = BENCH / "results" / f"sign_on-{'postgresql' if postgres else 'sqlite'}.md"
    out.write_text(report)
    raw = {"header": header, "results": [asdict(r) for r in results]}
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    log(f"written to {out.relative_to(ROOT)} (raw figures in {out.with_suffix('.json').name})")
    if any(r.errors for r in results):
        code = code or 2
    return code


if __name__ == "__main__":
    sys.exit(main())
