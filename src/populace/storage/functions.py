"""SQL functions populace needs to behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

# SQLite's own lower() folds only A-Z; each SQLite connection registers this one instead
# (storage/database.py), which folds every script as Python does.
SQLITE_LOWER = "populace_lower"


def sqlite_lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


class unicode_lower(GenericFunction[str]):
    """lower() for every script (``Ärztin`` is ``ärztin``): PostgreSQL's follows the
    database's Unicode character type; SQLite's is replaced by :func:`sqlite_lower`."""

    type = String()
    name = "lower"
    inherit_cache = True


@compiles(unicode_lower, "sqlite")
def _sqlite_unicode_lower(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "postgresql")
def _postgresql_unicode_lower(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    # Byte order, as the key columns (collation "C"): ``sw`` ranges mean the same on both
    # databases, whatever the database's default collation.
    return f'lower({compiler.process(element.clauses, **kw)}) COLLATE "C"'
