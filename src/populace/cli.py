"""The ``populace`` command."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import sys
from pathlib import Path

import click
import uvicorn
from rich.console import Console
from rich.progress import Progress

from populace.app import start
from populace.bootstrap import AdminCredentials
from populace.bootstrap import recover as recover_admin
from populace.config import Config
from populace.storage.database import Database
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


def _print_credentials(origin: str, admin: AdminCredentials, *, show_secret: bool) -> None:
    """Plain ``name  value`` lines: whole values, easy to copy, whatever the terminal width."""
    if admin.client_secret is None:
        console.print(MISSING_ADMIN)
        return
    secret = admin.client_secret if show_secret else "(not shown: `populace credentials` prints it)"
    rows = [
        ("apiPath", origin, "management API: {{apiPath}}/v1/..."),
        ("authPath", origin, "token endpoint: {{authPath}}/{{envID}}/as/token"),
        ("envID", admin.environment_id, "the Administrators environment"),
        ("clientId", admin.client_id, "Worker app holding Organization Admin"),
        ("clientSecret", secret, ""),
    ]
    click.echo("Paste into Postman (or any PingOne client):")
    for name, value, note in rows:
        click.echo(f"  {name:<13} {value}" + (f"    # {note}" if note else ""))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@database_option
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--log-level", default="warning", show_default=True)
@public_url_option
@click.option(
    "--control/--no-control",
    default=None,
    help="Serve the control API (/_populace: reset, snapshots, outbox); "
    "default: on when listening on a loopback address only.",
)
def serve(
    host: str,
    port: int,
    database: str | None,
    workers: int,
    log_level: str,
    public_url: str | None,
    control: bool | None,
) -> None:
    """Start the API (migrates and bootstraps an empty database first)."""
    # Worker processes read their configuration from the environment.
    if public_url:
        os.environ["POPULACE_PUBLIC_URL"] = public_url
    control = is_loopback(host) if control is None else control
    os.environ["POPULACE_CONTROL_API"] = "1" if control else "0"
    config = Config.from_environment(database)
    admin = asyncio.run(_prepare(config))
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
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@main.command()
@database_option
def migrate(database: str | None) -> None:
    """Bring the database schema to the newest version."""

    async def run() -> None:
        db = Database.from_config(Config.from_environment(database))
        async with deployment_lock(db):
            await upgrade(db)
        await db.dispose()

    asyncio.run(run())
    console.print("schema is up to date")


@main.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def credentials(database: str | None, host: str, port: int) -> None:
    """Print the bootstrap Worker application's credentials, secret included."""
    config = Config.from_environment(database)
    admin = asyncio.run(_prepare(config))
    _print_credentials(_origin(config, host, port), admin, show_secret=True)
    if admin.client_secret is None:
        sys.exit(1)


@main.group()
def admin() -> None:
    """Local administration: what only access to the database itself may do."""


@admin.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def recover(database: str | None, host: str, port: int) -> None:
    """Create a new Worker application with Organization Admin (for when no administrator is
    left, or its secret is lost) and print its credentials."""
    config = Config.from_environment(database)

    async def run() -> AdminCredentials:
        services, _ = await start(config)
        try:
            async with services.db.write() as conn:
                return await recover_admin(conn, services.box)
        finally:
            await services.db.dispose()

    _print_credentials(_origin(config, host, port), asyncio.run(run()), show_secret=True)


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

    async def run() -> None:
        db = Database.from_config(Config.from_environment(database))
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

    try:
        asyncio.run(run())
    except ValueError as error:
        raise click.ClickException(str(error)) from None
