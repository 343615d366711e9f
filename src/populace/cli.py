"""The ``populace`` command."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shlex
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import uvicorn
from rich.console import Console
from rich.progress import Progress
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from uvicorn.config import LOGGING_CONFIG

from populace.app import build_app, start
from populace.auth.secrets import stored_secret_box
from populace.auth.tokens import issue_token
from populace.bootstrap import AdminCredentials, current_credentials
from populace.bootstrap import recover as recover_admin
from populace.config import Config
from populace.control import seed
from populace.organizations import store as organization_store
from populace.storage.database import Database, DatabaseUnavailable, normalize_url
from populace.storage.migrate import deployment_lock, upgrade

console = Console(stderr=True)

database_option = click.option(
    "--database",
    envvar="POPULACE_DATABASE_URL",
    default=None,
    help="SQLite file path or sqlite:/// URL (default ./populace.db), or postgresql://...",
)


public_url_option = click.option(
    "--public-url",
    envvar="POPULACE_PUBLIC_URL",
    default=None,
    help="The URL clients reach populace at (links, token issuer, discovery); "
    "default: the Host each request names.",
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _origin(config: Config, host: str, port: int) -> str:
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return config.public_url or f"http://{local}:{port}"


@click.group()
@click.version_option(package_name="populace")
def main() -> None:
    """populace: a self-hosted, PingOne-compatible identity directory."""


async def _prepare(config: Config) -> AdminCredentials:
    services, admin = await start(config)
    await services.db.dispose()
    return admin


MISSING_ADMIN = (
    "The bootstrap Worker application no longer exists. `populace admin recover` creates a new "
    "Organization Admin application and prints its credentials."
)
FORMATS = ("text", "env", "json", "postman")


def _variables(origin: str, admin: AdminCredentials, secret: str) -> list[tuple[str, str, str]]:
    """The credentials under the names of PingOne's Postman collections: (name, value, note)."""
    return [
        ("apiPath", origin, "management API: {{apiPath}}/v1/..."),
        ("authPath", origin, "token endpoint: {{authPath}}/{{adminEnvID}}/as/token"),
        ("adminEnvID", admin.environment_id, "the Administrators environment"),
        ("adminAppID", admin.client_id, "Worker app holding Organization Admin"),
        ("adminAppSecret", secret, ""),
        ("orgID", admin.organization_id, "the organization"),
    ]


def _postman_environment(variables: list[tuple[str, str, str]]) -> dict[str, Any]:
    """An environment file Postman imports (Environments > Import)."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"populace:{variables[2][1]}")),
        "name": "populace",
        "values": [
            {
                "key": name,
                "value": value,
                "type": "secret" if name == "adminAppSecret" else "default",
                "enabled": True,
            }
            for name, value, _ in variables
        ],
        "_postman_variable_scope": "environment",
    }


def _print_credentials(
    origin: str, admin: AdminCredentials, *, show_secret: bool, form: str = "text"
) -> None:
    """``text``: plain ``name  value`` lines (whole values, easy to copy, whatever the
    terminal width); ``env``: shell assignments; ``json``; ``postman``: an environment file."""
    if admin.client_secret is None:
        console.print(MISSING_ADMIN)
        return
    secret = admin.client_secret if show_secret else "(not shown: `populace credentials` prints it)"
    variables = _variables(origin, admin, secret)
    if form == "env":
        click.echo(
            "".join(f"{name}={shlex.quote(value)}\n" for name, value, _ in variables), nl=False
        )
    elif form == "json":
        click.echo(json.dumps({name: value for name, value, _ in variables}, indent=2))
    elif form == "postman":
        click.echo(json.dumps(_postman_environment(variables), indent=2))
    else:
        click.echo("Paste into Postman (or any PingOne client):")
        for name, value, note in variables:
            click.echo(f"  {name:<15} {value}" + (f"    # {note}" if note else ""))


def _config(database: str | None) -> Config:
    try:
        return Config.from_environment(database)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


def _shown(url: str) -> str:
    """A database URL as it may be printed: no password."""
    if "://" not in url:
        return url
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def _starting(config: Config) -> Iterator[None]:
    """What makes a start fail, as one line and exit status 1 instead of a traceback: a
    database URL of another kind, a database that cannot be reached or opened, bootstrap
    variables that contradict the database."""
    where = _shown(config.database_url)
    try:
        yield
    except (OSError, TimeoutError, DatabaseUnavailable) as error:
        reason = error.strerror or str(error) if isinstance(error, OSError) else str(error)
        raise click.ClickException(f"cannot reach the database {where}: {reason}") from None
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        raise click.ClickException(f"cannot use the database {where}: {reason}") from None
    except (ValueError, RuntimeError) as error:  # RuntimeError: a secret that does not open
        raise click.ClickException(str(error)) from None


def _apply_seed(config: Config, admin: AdminCredentials, path: Path) -> None:
    """Apply a seed file as the bootstrap application, through the API in-process."""
    try:
        document = seed.parse(path.read_bytes())
    except seed.SeedError as error:
        raise click.ClickException(f"{path}: {error}") from None

    async def run() -> seed.Report:
        services, _ = await start(config)
        try:
            token = issue_token(
                services.keys, client_id=admin.client_id, environment_id=admin.environment_id,
                organization_id=admin.organization_id, issuer="populace-seed",
                audience="populace-seed", lifetime_seconds=600,
            )  # fmt: skip
            return await seed.apply(build_app(services), f"Bearer {token}", document)
        finally:
            await services.db.dispose()

    try:
        with _starting(config):
            report = asyncio.run(run())
    except seed.SeedError as error:
        raise click.ClickException(f"{path}: {error}") from None
    click.echo(f"seed {path}: {report.created} created, {report.unchanged} already there", err=True)


def _port_free(host: str, port: int) -> None:
    """Fail before anything is printed when the address cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {error.strerror or error}"
            ) from None


def _uvicorn_json_logging(level: str) -> dict[str, Any]:
    """uvicorn's own lines as JSON too, with populace's formatter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "populace.http.access.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"uvicorn": {"handlers": ["json"], "level": level.upper(), "propagate": False}},
    }


PORT = click.IntRange(1, 65535)
LOG_LEVELS = click.Choice(["critical", "error", "warning", "info", "debug", "trace"])


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=PORT)
@database_option
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--log-level", default="warning", show_default=True, type=LOG_LEVELS)
@public_url_option
@click.option(
    "--control/--no-control",
    default=None,
    help="Serve the control API (/_populace: reset, snapshots, outbox); "
    "default: on when listening on a loopback address only.",
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="populace's and uvicorn's log lines on stderr: text, or one JSON object per line.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="A line per request: method, path, status, duration, correlation id, client id.",
)
@click.option(
    "--seed",
    "seed_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A seed file (YAML or JSON) of environments, populations, groups, users and "
    "applications, applied before serving; what is there already is left as it is.",
)
def serve(
    host: str,
    port: int,
    database: str | None,
    workers: int,
    log_level: str,
    public_url: str | None,
    control: bool | None,
    log_format: str,
    access_log: bool,
    seed_file: Path | None,
) -> None:
    """Start the API (migrates and bootstraps an empty database first)."""
    # Worker processes read their configuration from the environment.
    if public_url:
        os.environ["POPULACE_PUBLIC_URL"] = public_url
    control = is_loopback(host) if control is None else control
    os.environ["POPULACE_CONTROL_API"] = "1" if control else "0"
    os.environ["POPULACE_LOG_FORMAT"] = log_format
    os.environ["POPULACE_LOG_LEVEL"] = log_level
    os.environ["POPULACE_ACCESS_LOG"] = "1" if access_log else "0"
    config = _config(database)
    _port_free(host, port)
    with _starting(config):
        admin = asyncio.run(_prepare(config))
    if seed_file is not None:
        _apply_seed(config, admin, seed_file)
    os.environ["POPULACE_DATABASE_URL"] = config.database_url
    show_secret = admin.created or config.admin_client_secret is not None
    _print_credentials(_origin(config, host, port), admin, show_secret=show_secret)
    console.print(f"populace is serving on http://{host}:{port} (Ctrl-C stops it)")
    uvicorn.run(
        "populace.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="populace.server:HttpProtocol",
        log_level=log_level,
        log_config=_uvicorn_json_logging(log_level) if log_format == "json" else LOGGING_CONFIG,
        access_log=False,  # populace writes its own (http/access.py)
        timeout_graceful_shutdown=10,
    )


@main.command()
@database_option
def migrate(database: str | None) -> None:
    """Bring the database schema to the newest version."""

    config = _config(database)

    async def run() -> None:
        db = Database.from_config(config)
        async with deployment_lock(db):
            await upgrade(db)
        await db.dispose()

    with _starting(config):
        asyncio.run(run())
    console.print("schema is up to date")


class _NoDeployment(Exception):
    pass


async def _read_credentials(config: Config) -> AdminCredentials:
    """The bootstrap credentials, read only (no key is made, no schema, no row)."""
    db = Database.from_config(config)
    try:
        async with db.read() as conn:
            try:
                organization_id = await organization_store.the_organization_id(conn)
            except DBAPIError as error:  # no tables: a database populace never started on
                if "no such table" in str(error) or "does not exist" in str(error):
                    raise _NoDeployment from None
                raise
            if organization_id is None:
                raise _NoDeployment
            box = await stored_secret_box(conn, config.secret_key)
            if box is None:
                raise ValueError(
                    "this deployment's key is not in the database: set POPULACE_SECRET_KEY"
                )
            found = await current_credentials(conn, box)
    finally:
        await db.dispose()
    assert found is not None
    return found


def _sqlite_file(url: str) -> Path | None:
    """The file a SQLite database URL or path names (None for PostgreSQL)."""
    normalized = make_url(normalize_url(url))
    if normalized.get_backend_name() != "sqlite":
        return None
    return Path(normalized.database or "")


@main.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=PORT)
@click.option("--format", "form", default="text", show_default=True, type=click.Choice(FORMATS))
def credentials(database: str | None, host: str, port: int, form: str) -> None:
    """Print the bootstrap Worker application's credentials, secret included (``--format
    postman``: an environment file Postman imports). Reads only: it never creates a database."""
    config = _config(database)
    where = _shown(config.database_url)
    missing = click.ClickException(
        f"no populace deployment in {where}: `populace serve --database {where}` makes one"
    )
    with _starting(config):
        file = _sqlite_file(config.database_url)
    if file is not None and not file.is_file():
        raise missing  # opening it would make it
    try:
        with _starting(config):
            admin = asyncio.run(_read_credentials(config))
    except _NoDeployment:
        raise missing from None
    _print_credentials(_origin(config, host, port), admin, show_secret=True, form=form)
    if admin.client_secret is None:
        sys.exit(1)


@main.group()
def admin() -> None:
    """Local administration: what only access to the database itself may do."""


@admin.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=PORT)
def recover(database: str | None, host: str, port: int) -> None:
    """Create a new Worker application with Organization Admin (for when no administrator is
    left, or its secret is lost) and print its credentials."""
    config = _config(database)

    async def run() -> AdminCredentials:
        services, _ = await start(config)
        try:
            async with services.db.write() as conn:
                return await recover_admin(conn, services.box)
        finally:
            await services.db.dispose()

    with _starting(config):
        recovered = asyncio.run(run())
    _print_credentials(_origin(config, host, port), recovered, show_secret=True)


@main.group(name="import")
def import_group() -> None:
    """Bulk-load data into an environment."""


@import_group.command(name="users")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--environment", "-e", "environment_id", required=True, help="Environment ID.")
@click.option(
    "--population",
    "-p",
    "population_id",
    default=None,
    help="Population for rows without population.id (default: the default population).",
)
@database_option
def import_users_command(
    file: Path, environment_id: str, population_id: str | None, database: str | None
) -> None:
    """Load users from FILE: CSV (.csv, with a header row) or JSON lines (one user per line,
    shaped like the POST /users body). Rejected rows are listed with their line numbers; the
    command exits 1 when any row was rejected."""
    from populace.users.importer import import_users

    total = sum(1 for _ in file.open("rb"))
    config = _config(database)

    async def run() -> None:
        db = Database.from_config(config)
        try:
            async with deployment_lock(db):
                await upgrade(db)
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"importing {file.name}", total=total)
                report = await import_users(
                    db, environment_id, file, population_id,
                    progress=lambda n: progress.advance(task, n),
                )  # fmt: skip
        finally:
            await db.dispose()
        for rejected in report.rejected:
            click.echo(f"{file}:{rejected.line}: rejected: {rejected.reason}", err=True)
        click.echo(f"imported {report.imported} users, rejected {len(report.rejected)} rows")
        if report.rejected:
            sys.exit(1)

    with _starting(config):
        asyncio.run(run())
