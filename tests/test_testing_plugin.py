"""The README's pytest walk-through, run as written: its files into a folder of their own, and
pytest run there in a new process (the plugin starts populace itself)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from populace.testing import ClientCredentials, PopulaceClient, PopulaceServer

README = Path(__file__).parent.parent / "README.md"
_BLOCK = re.compile(r"```python\n# (\S+\.py)\n(.*?)```", re.DOTALL)


def walk_through() -> dict[str, str]:
    """The README's Python blocks that open with ``# <file>.py``: file name to content."""
    return {name: body for name, body in _BLOCK.findall(README.read_text())}


def test_the_readme_names_a_conftest_and_a_test_file() -> None:
    assert {"conftest.py", "test_directory.py"} <= set(walk_through())


@pytest.mark.slow
def test_the_readme_pytest_walk_through_passes(tmp_path: Path) -> None:
    for name, body in walk_through().items():
        (tmp_path / name).write_text(body)
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 passed" in ran.stdout, ran.stdout


def test_a_refused_token_is_fetched_again(populace: PopulaceClient) -> None:
    """An expired or revoked token is replaced once, and the request goes through."""
    auth = populace.auth
    assert isinstance(auth, ClientCredentials)
    assert populace.get("/v1/environments").status_code == 200
    auth.token = "not-a-token"
    assert populace.get("/v1/environments").status_code == 200
    assert auth.token is not None and auth.token != "not-a-token"


def test_wrong_credentials_fail_loudly(populace_server: PopulaceServer) -> None:
    auth = ClientCredentials(
        populace_server.url, populace_server.environment_id, populace_server.client_id, "wrong"
    )
    with (
        httpx.Client(base_url=populace_server.url, auth=auth) as client,
        pytest.raises(RuntimeError, match="refused the token request"),
    ):
        client.get("/v1/environments")


def test_each_test_starts_from_the_first_start(
    populace: PopulaceClient, populace_server: PopulaceServer
) -> None:
    """What one test makes is gone for the next: a restore is what the fixture does."""
    environment = f"/v1/environments/{populace.environment_id}/populations"
    made = populace.post(environment, json={"name": "Leftover"})
    assert made.status_code == 201, made.text
    populace_server.restore()
    names = [p["name"] for p in populace.get(environment).json()["_embedded"]["populations"]]
    assert "Leftover" not in names
