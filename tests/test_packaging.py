"""What ``pip install`` of the repository gives: a wheel that holds everything populace reads
at run time (migrations, the operations list, the docs page), and a command that works from it
alone; and a lock file that pins every dependency with its hashes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools leaves build/ and *.egg-info beside what it builds.
    project = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(project)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = out.glob("populace-*.whl")
    return found


def test_the_wheel_holds_what_populace_reads_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    source = ROOT / "src"
    wanted = [
        *(p for p in (source / "populace/storage/migrations/versions").glob("*.py")),
        source / "populace/storage/migrations/env.py",
        source / "populace/http/pingone_operations.txt",
        source / "populace/http/docs.html",
        source / "populace/testing.py",
    ]
    missing = [
        str(p.relative_to(source)) for p in wanted if str(p.relative_to(source)) not in names
    ]
    assert not missing, missing


@pytest.mark.slow
def test_the_installed_wheel_migrates_and_bootstraps_a_database(
    wheel: Path, tmp_path: Path
) -> None:
    """Installed on its own (the project's source out of the path), ``python -m populace``
    migrates a new database to the newest revision and prints its credentials."""
    site = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    database = tmp_path / "wheel.db"
    environment = {**os.environ, "PYTHONPATH": str(site)}
    environment.pop("POPULACE_DATABASE_URL", None)

    def populace(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "populace", *arguments],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env=environment,
        )

    where = subprocess.run(
        [sys.executable, "-c", "import populace; print(populace.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=60,
    )  # fmt: skip
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    migrated = populace("migrate", "--database", str(database))
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    recovered = populace("admin", "recover", "--database", str(database))
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "adminAppSecret" in recovered.stdout, recovered.stdout


def test_every_dependency_is_pinned_with_its_hashes() -> None:
    """``make install`` installs requirements.lock with --require-hashes: each requirement
    pinned to one version, with at least one hash, and every runtime dependency named."""
    text = (ROOT / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[a-z0-9])", text.strip(), flags=re.IGNORECASE)
    pinned = {}
    for entry in entries:
        if entry.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry)
        assert match, entry
        assert "--hash=sha256:" in entry, entry
        pinned[match[1].lower().replace("_", "-")] = match[2]
    pyproject = (ROOT / "pyproject.toml").read_text()
    dependencies = re.search(r"dependencies = \[(.*?)\]", pyproject, re.DOTALL)
    assert dependencies
    for requirement in re.findall(r'"([A-Za-z0-9_.-]+)', dependencies[1]):
        assert requirement.lower().replace("_", "-") in pinned, requirement
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in makefile
