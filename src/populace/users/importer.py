"""Bulk load of users from CSV or JSON lines (``populace import users``).

Every row is validated by the same rules as ``POST .../users``; a rejected row is reported with
its line number and skipped whole. Good rows are written in batches, each batch one transaction
that inserts its users and adjusts the population counts, so a row is either fully there (user
and count) or not at all, even if the process is killed mid-file.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from populace.errors import ApiError, invalid_data
from populace.groups import rules as group_rules
from populace.populations import store as population_store
from populace.storage.database import Database
from populace.users import rules, store
from populace.users.wire import UserBody
from populace.wire import MAX_BODY_BYTES, decode_body, new_id, now_ms

BATCH_SIZE = 5000
# A line holds one user, as a POST body does; the API's body limit bounds it too.
MAX_LINE_BYTES = MAX_BODY_BYTES
CSV_COLUMNS = (
    "username", "email", "name.given", "name.family", "name.middle", "name.formatted",
    "enabled", "population.id",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def _lines(handle: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Numbered physical lines of at most :data:`MAX_LINE_BYTES`; a longer line is read past
    (never held whole in memory) and given as None, so it is rejected and the rest goes on."""
    number = 0
    while line := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield number, line
            continue
        while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield number, None


def _too_long() -> ApiError:
    return invalid_data(
        "SIZE_LIMIT_EXCEEDED", None, f"The line is longer than {MAX_LINE_BYTES} bytes."
    )


def _csv_cells(line: bytes) -> list[str]:
    """One physical line's cells. No field of a user may hold a line break, so a record is
    one line, and a bad line cannot take the lines after it with it."""
    return next(csv.reader([line.decode("utf-8").rstrip("\r\n")]), [])


def _csv_rows(path: Path) -> Iterator[tuple[int, rules.UserInput | ApiError]]:
    with path.open("rb") as handle:
        lines = _lines(handle)
        first = next(lines, (0, b""))[1]
        if first is None:
            raise ValueError("the CSV header line is too long")
        header = _csv_cells(first.removeprefix(b"\xef\xbb\xbf"))
        unknown = set(header) - set(CSV_COLUMNS)
        if unknown:
            raise ValueError(f"unknown CSV columns {sorted(unknown)}; known: {list(CSV_COLUMNS)}")
        for number, line in lines:
            if line is None:
                yield number, _too_long()
            elif line.strip():
                yield number, _csv_row(header, line)


def _csv_row(header: list[str], line: bytes) -> rules.UserInput | ApiError:
    try:
        cells = _csv_cells(line)
    except (csv.Error, UnicodeDecodeError) as error:
        return invalid_data("INVALID_VALUE", None, f"The line is not valid CSV: {error}.")
    if len(cells) > len(header):
        return invalid_data("INVALID_VALUE", None, "The row has more cells than the header.")
    return _csv_input(dict(zip(header, cells, strict=False)))


def _csv_input(row: dict[str, str]) -> rules.UserInput | ApiError:
    def cell(name: str) -> str | None:
        value = row.get(name)
        return value if value not in (None, "") else None

    enabled = (cell("enabled") or "true").lower()
    if enabled not in ("true", "false"):
        return invalid_data("INVALID_VALUE", "enabled", "'enabled' must be true or false.")
    return rules.UserInput(
        username=cell("username") or "",
        email=cell("email") or "",
        given=cell("name.given"),
        family=cell("name.family"),
        middle=cell("name.middle"),
        formatted=cell("name.formatted"),
        enabled=enabled == "true",
        population_id=cell("population.id"),
    )


def _json_rows(path: Path) -> Iterator[tuple[int, rules.UserInput | ApiError]]:
    with path.open("rb") as handle:
        for number, line in _lines(handle):
            if line is None:
                yield number, _too_long()
            elif line.strip():
                try:
                    yield number, decode_body(line, UserBody).to_input()
                except ApiError as error:
                    yield number, error


def _reason(error: ApiError) -> str:
    detail = error.details[0] if error.details else None
    if detail is None:
        return error.message
    return f"{detail.target}: {detail.message}" if detail.target else detail.message


class _Loader:
    def __init__(self, db: Database, environment_id: str, population_id: str | None) -> None:
        self.db = db
        self.environment_id = environment_id
        self.population_id = population_id
        self.report = ImportReport()
        self.seen: set[str] = set()
        self.batch: list[tuple[int, dict[str, Any]]] = []
        self.populations: set[str] = set()
        self.default: str | None = None

    async def prepare(self) -> None:
        async with self.db.read() as conn:
            rows = await population_store.all_in_environment(conn, self.environment_id)
        if not rows:
            raise ValueError(
                f"environment {self.environment_id} does not exist or has no populations"
            )
        self.populations = {row.id for row in rows}
        self.default = next((row.id for row in rows if row.is_default), None)

    def reject(self, line: int, reason: str) -> None:
        self.report.rejected.append(Rejected(line, reason))

    def _population(self, requested: str | None) -> str:
        chosen = requested or self.population_id or self.default
        if chosen is None:
            raise ValueError("population.id: the environment has no default population")
        if chosen not in self.populations:
            raise ValueError("population.id: names no population of this environment")
        return chosen

    async def add(self, line: int, parsed: rules.UserInput | ApiError) -> None:
        if isinstance(parsed, ApiError):
            self.reject(line, _reason(parsed))
            return
        try:
            values = rules.checked(parsed)
            population_id = self._population(parsed.population_id)
        except ApiError as error:
            self.reject(line, _reason(error))
            return
        except ValueError as error:
            self.reject(line, str(error))
            return
        key = store.username_key(values["username"])
        if key in self.seen:
            self.reject(line, "username: is already in use (earlier in this file)")
            return
        self.seen.add(key)
        values.update(
            population_id=population_id, enabled=parsed.enabled, mfa_enabled=parsed.mfa_enabled
        )
        self.batch.append((line, values))
        if len(self.batch) >= BATCH_SIZE:
            await self.flush()

    async def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        at = now_ms()
        async with self.db.write() as conn:
            taken = await store.usernames_taken(
                conn, self.environment_id, [store.username_key(v["username"]) for _, v in batch]
            )
            rows = []
            for line, values in batch:
                if store.username_key(values["username"]) in taken:
                    self.reject(line, "username: is already in use")
                    continue
                rows.append(
                    {
                        **values,
                        "environment_id": self.environment_id,
                        "id": new_id(),
                        "created_at": at,
                        "updated_at": at,
                    }
                )
            if rows:
                await store.insert_users(conn, rows)
                await group_rules.refresh_dynamic(
                    conn, self.environment_id, *(row["id"] for row in rows)
                )
                for population_id, added in Counter(r["population_id"] for r in rows).items():
                    await population_store.add_to_count(
                        conn, self.environment_id, population_id, added
                    )
        self.report.imported += len(rows)


async def import_users(
    db: Database,
    environment_id: str,
    path: Path,
    population_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Load ``path`` (``.csv``, else JSON lines) into an environment; returns what happened."""
    loader = _Loader(db, environment_id, population_id)
    await loader.prepare()
    if population_id is not None and population_id not in loader.populations:
        raise ValueError(f"population {population_id} is not in environment {environment_id}")
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _json_rows(path)
    for count, (line, parsed) in enumerate(rows, start=1):
        await loader.add(line, parsed)
        if progress is not None and count % 1000 == 0:
            progress(1000)
    await loader.flush()
    await db.refresh_statistics()  # the environment may have grown a thousandfold
    return loader.report
