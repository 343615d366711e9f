"""Display names (of environments, populations, applications): how they are checked, and the
key that compares them for uniqueness and ``eq``/``sw`` filters."""

from __future__ import annotations

from populace.errors import ApiError, invalid_data

MAX_NAME = 256


def clean_name(name: str, *, max_length: int = MAX_NAME) -> str:
    """Trim and check a display name: 1-256 characters, no control characters."""
    trimmed = name.strip()
    if not trimmed:
        raise invalid_data("EMPTY_VALUE", "name", "'name' must not be empty.")
    if len(trimmed) > max_length:
        raise invalid_data(
            "SIZE_LIMIT_EXCEEDED",
            "name",
            f"'name' must be at most {max_length} characters.",
            maximumValue=max_length,
        )
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in trimmed):
        raise invalid_data("INVALID_VALUE", "name", "'name' must not contain control characters.")
    return trimmed


def name_key(name: str) -> str:
    """What two names are compared by: equal keys are the same name."""
    return name.casefold()


def duplicate_name() -> ApiError:
    return invalid_data("UNIQUENESS_VIOLATION", "name", "'name' is already in use.")
