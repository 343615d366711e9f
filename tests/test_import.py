"""``populace import users FILE`` run as a process against the session's database, checked
through HTTP: good rows all land, bad rows are reported with their line numbers and are not
there, and userCount matches (issue 4)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.test_users import (
    assert_counts_real,
    create_population,
    create_user,
    default_population_id,
    list_users,
    user_count,
)

CSV_HEADER = "username,email,name.given,name.family,enabled,population.id"
# How long an import may run before it counts as hung: generous, as on a loaded machine the
# process's start alone can take most of a minute.
IMPORT_SECONDS = 300.0


async def run_import(
    deployment: Any, path: Path, environment_id: str, population_id: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "populace", "import", "users", str(path),
        "-e", environment_id, "--database", deployment.database_url,
    ]  # fmt: skip
    if population_id is not None:
        command += ["--population", population_id]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=IMPORT_SECONDS
    )


def rejected_lines(result: subprocess.CompletedProcess[str], path: Path) -> dict[int, str]:
    """``{line: reason}`` from stderr's ``FILE:LINE: rejected: REASON`` lines."""
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+): rejected: (.*)$")
    found: dict[int, str] = {}
    for line in result.stderr.splitlines():
        match = pattern.match(line)
        if match:
            assert int(match.group(1)) not in found, result.stderr
            found[int(match.group(1))] = match.group(2)
    assert result.stderr.count("rejected:") == len(found), result.stderr
    return found


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def json_line(username: str, population_id: str | None = None, **fields: Any) -> str:
    body: dict[str, Any] = {"username": username, "email": f"{username}@example.com", **fields}
    if population_id is not None:
        body["population"] = {"id": population_id}
    return json.dumps(body)


async def find(admin: httpx.AsyncClient, environment_id: str, username: str) -> list[Any]:
    return await list_users(admin, environment_id, f'username eq "{username}"')


async def assert_imported(
    admin: httpx.AsyncClient, environment_id: str, expected: dict[str, dict[str, Any]]
) -> None:
    """Each username is there once, with the given attributes."""
    for username, attributes in expected.items():
        (user,) = await find(admin, environment_id, username)
        assert user["username"] == username
        for key, value in attributes.items():
            assert user.get(key) == value, (username, key, user)


async def assert_absent(admin: httpx.AsyncClient, environment_id: str, *usernames: str) -> None:
    for username in usernames:
        assert await find(admin, environment_id, username) == [], username


def assert_summary(result: subprocess.CompletedProcess[str], imported: int, rejected: int) -> None:
    assert f"imported {imported} users, rejected {rejected} rows" in result.stdout, result


# -- good files -------------------------------------------------------------------------------


async def test_import_good_csv(
    admin: httpx.AsyncClient, environment: dict[str, Any], deployment: Any, tmp_path: Path
) -> None:
    env_id = environment["id"]
    a, b, c = [await create_population(admin, env_id) for _ in range(3)]
    path = write_lines(
        tmp_path / "users.csv",
        [
            CSV_HEADER,
            f"ann,ann@example.com,Ann,Lee,true,{a}",
            f'bea,Bea@Example.com,Bea,"O\'Hara, Jr.",false,{a}',
            f"cy,cy@example.com,,,TRUE,{a}",
            f"dee,dee@example.com,Dee,Fox,,{b}",
            f"eve,eve@example.com,Eve,Moss,False,{b}",
            "fay,fay@example.com,Fay,Ng,true,",
            "gus,gus@example.com,Gus,,,",
        ],
    )
    result = await run_import(deployment, path, env_id, population_id=c)
    assert result.returncode == 0, result
    assert rejected_lines(result, path) == {}
    assert_summary(result, 7, 0)
    await assert_imported(
        admin,
        env_id,
        {
            "ann": {"email": "ann@example.com", "name": {"given": "Ann", "family": "Lee"},
                    "enabled": True, "population": {"id": a}},
            "bea": {"email": "Bea@Example.com", "name": {"given": "Bea", "family": "O'Hara, Jr."},
                    "enabled": False, "population": {"id": a}},
            "cy": {"enabled": True, "population": {"id": a}},
            "dee": {"enabled": True, "population": {"id": b}},
            "eve": {"enabled": False, "population": {"id": b}},
            "fay": {"population": {"id": c}, "name": {"given": "Fay", "family": "Ng"}},
            "gus": {"population": {"id": c}, "name": {"given": "Gus"}},
        },
    )  # fmt: skip
    (cy,) = await find(admin, env_id, "cy")
    assert "name" not in cy or not any(cy["name"].values())
    default = await default_population_id(admin, env_id)
    await assert_counts_real(admin, env_id, {a: 3, b: 2, c: 2, default: 0})


async def test_import_good_json_lines(
    admin: httpx.AsyncClient, environment: dict[str, Any], deployment: Any, tmp_path: Path
) -> None:
    env_id = environment["id"]
    a = await create_population(admin, env_id)
    default = await default_population_id(admin, env_id)
    path = write_lines(
        tmp_path / "users.jsonl",
        [
            json_line("hal", a, name={"given": "Hal", "family": "Ray", "middle": "J"}),
            json_line("ida", a, enabled=False),
            json_line("jon", name={"formatted": "Jon Snow"}),
            json_line("kim", enabled=True, id=str(uuid.uuid4()), userCount=9),
        ],
    )
    result = await run_import(deployment, path, env_id)
    assert result.returncode == 0, result
    assert rejected_lines(result, path) == {}
    assert_summary(result, 4, 0)
    await assert_imported(
        admin,
        env_id,
        {
            "hal": {"name": {"given": "Hal", "family": "Ray", "middle": "J"},
                    "population": {"id": a}, "enabled": True, "email": "hal@example.com"},
            "ida": {"population": {"id": a}, "enabled": False},
            "jon": {"population": {"id": default}, "name": {"formatted": "Jon Snow"}},
            "kim": {"population": {"id": default}, "enabled": True},
        },
    )  # fmt: skip
    await assert_counts_real(admin, env_id, {a: 2, default: 2})


# -- bad files --------------------------------------------------------------------------------


async def test_import_bad_csv(
    admin: httpx.AsyncClient, make_environment: Any, deployment: Any, tmp_path: Path
) -> None:
    env_id, other_env = (await make_environment())["id"], (await make_environment())["id"]
    a, b = await create_population(admin, env_id), await create_population(admin, env_id)
    foreign = await create_population(admin, other_env)
    default = await default_population_id(admin, env_id)
    existing = await create_user(admin, env_id, a, username="Existing.User")
    path = write_lines(
        tmp_path / "mixed.csv",
        [
            CSV_HEADER,                                               # 1
            f"good-1,good-1@example.com,Good,One,true,{a}",           # 2
            f"bad-email,not-an-email,Bad,Email,true,{a}",             # 3 invalid email
            f",empty@example.com,Empty,Name,true,{a}",                # 4 empty username
            f"dup-x,first@example.com,Dup,First,true,{b}",            # 5
            f"DUP-X,second@example.com,Dup,Second,true,{a}",          # 6 duplicate in file
            f"existing.user,again@example.com,Ex,Isting,true,{a}",    # 7 taken in environment
            f"lost,lost@example.com,Lost,Pop,true,{uuid.uuid4()}",    # 8 unknown population
            f"maybe,maybe@example.com,May,Be,maybe,{a}",              # 9 enabled=maybe
            f"good-2,good-2@example.com,Good,Two,false,{b}",          # 10
            "good-3,good-3@example.com,Good,Three,,",                 # 11 default population
            f"foreign,foreign@example.com,For,Eign,true,{foreign}",   # 12 other environment's
        ],
    )  # fmt: skip
    result = await run_import(deployment, path, env_id)
    assert result.returncode == 1, result
    rejected = rejected_lines(result, path)
    assert sorted(rejected) == [3, 4, 6, 7, 8, 9, 12], result.stderr
    for line, word in {3: "email", 4: "username", 6: "username", 7: "username",
                       8: "population.id", 9: "enabled", 12: "population.id"}.items():  # fmt: skip
        assert word in rejected[line], (line, rejected[line])
    assert_summary(result, 4, 7)

    await assert_imported(
        admin,
        env_id,
        {
            "good-1": {"population": {"id": a}, "enabled": True},
            "dup-x": {"email": "first@example.com", "population": {"id": b}},
            "good-2": {"population": {"id": b}, "enabled": False},
            "good-3": {"population": {"id": default}},
            "Existing.User": {"email": existing["email"], "population": {"id": a}},
        },
    )
    await assert_absent(admin, env_id, "bad-email", "lost", "maybe", "foreign")
    assert not [u for u in await list_users(admin, env_id) if u["email"] == "empty@example.com"]
    await assert_counts_real(admin, env_id, {a: 2, b: 2, default: 1})
    await assert_counts_real(admin, other_env, {foreign: 0})


async def test_import_bad_json_lines(
    admin: httpx.AsyncClient, environment: dict[str, Any], deployment: Any, tmp_path: Path
) -> None:
    env_id = environment["id"]
    a, b = await create_population(admin, env_id), await create_population(admin, env_id)
    default = await default_population_id(admin, env_id)
    await create_user(admin, env_id, b, username="taken")
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [
            json_line("j-good-1", a),                                 # 1
            '{"username": "broken", "email": ',                       # 2 malformed JSON
            json_line("j-bad-email", a, email="j@bad"),               # 3 invalid email
            "",                                                       # 4 blank: skipped
            json_line("", a),                                         # 5 empty username
            json_line("j-dup", b),                                    # 6
            json_line("J-DUP", a),                                    # 7 duplicate in file
            json_line("TAKEN", a),                                    # 8 taken in environment
            json_line("j-lost", str(uuid.uuid4())),                   # 9 unknown population
            json_line("j-maybe", a, enabled="maybe"),                 # 10 enabled not a boolean
            '["not", "an", "object"]',                                # 11
            json_line("j-good-2"),                                    # 12 default population
            '{"username": "j-no-email"}',                             # 13 email missing
        ],
    )  # fmt: skip
    result = await run_import(deployment, path, env_id)
    assert result.returncode == 1, result
    rejected = rejected_lines(result, path)
    assert sorted(rejected) == [2, 3, 5, 7, 8, 9, 10, 11, 13], result.stderr
    for line, word in {3: "email", 5: "username", 7: "username", 8: "username",
                       9: "population.id", 10: "enabled", 13: "email"}.items():  # fmt: skip
        assert word in rejected[line], (line, rejected[line])
    assert_summary(result, 3, 9)

    await assert_imported(
        admin,
        env_id,
        {
            "j-good-1": {"population": {"id": a}},
            "j-dup": {"population": {"id": b}},
            "j-good-2": {"population": {"id": default}},
            "taken": {"population": {"id": b}, "email": "taken@example.com"},
        },
    )
    await assert_absent(admin, env_id, "broken", "j-bad-email", "j-lost", "j-maybe", "j-no-email")
    await assert_counts_real(admin, env_id, {a: 1, b: 2, default: 1})


async def test_import_rejections_across_batches(
    admin: httpx.AsyncClient, environment: dict[str, Any], deployment: Any, tmp_path: Path
) -> None:
    """Past the importer's first batch, line numbers and counts stay right."""
    env_id = environment["id"]
    a = await create_population(admin, env_id)
    await create_user(admin, env_id, a, username="bulk-05500")
    rows = [f"bulk-{i:05d},bulk-{i}@example.com,B,{i},true,{a}" for i in range(6000)]
    lines = [CSV_HEADER, *rows]
    lines[5801] = f"bulk-05800,broken-email,B,5800,true,{a}"
    path = write_lines(tmp_path / "bulk.csv", lines)
    result = await run_import(deployment, path, env_id)
    assert result.returncode == 1, result
    assert sorted(rejected_lines(result, path)) == [5502, 5802]
    assert_summary(result, 5998, 2)
    assert await user_count(admin, env_id, a) == 5999
    await assert_counts_real(admin, env_id, {a: 5999})


# -- files or arguments the command refuses whole ---------------------------------------------


async def test_import_unknown_csv_column_imports_nothing(
    admin: httpx.AsyncClient, environment: dict[str, Any], deployment: Any, tmp_path: Path
) -> None:
    env_id = environment["id"]
    default = await default_population_id(admin, env_id)
    path = write_lines(
        tmp_path / "extra.csv",
        ["username,email,nickname", "zed,zed@example.com,Z", "yan,yan@example.com,Y"],
    )
    result = await run_import(deployment, path, env_id)
    assert result.returncode != 0, result
    assert "nickname" in result.stderr and "unknown" in result.stderr.lower(), result.stderr
    assert "Traceback" not in result.stderr
    assert await list_users(admin, env_id) == []
    assert await user_count(admin, env_id, default) == 0


async def test_import_unknown_environment_or_population(
    admin: httpx.AsyncClient, make_environment: Any, deployment: Any, tmp_path: Path
) -> None:
    env_id, other_env = (await make_environment())["id"], (await make_environment())["id"]
    foreign = await create_population(admin, other_env)
    path = write_lines(tmp_path / "one.jsonl", [json_line("solo")])
    missing_env = str(uuid.uuid4())
    result = await run_import(deployment, path, missing_env)
    assert result.returncode != 0, result
    assert missing_env in result.stderr and "Traceback" not in result.stderr
    result = await run_import(deployment, path, env_id, population_id=foreign)
    assert result.returncode != 0, result
    assert foreign in result.stderr and "Traceback" not in result.stderr
    assert await list_users(admin, env_id) == []
    await assert_counts_real(admin, other_env, {foreign: 0})
