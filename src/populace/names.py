"""Names people type (of environments, populations, applications; usernames): how they are
checked, and the key that compares them.

Two names are the same name when their keys are equal: uniqueness and the ``eq``/``sw`` filters
compare keys, never the spelling. The key is Unicode compatibility-normalized (NFKC: fullwidth
and composed forms become the plain ones), without format characters (zero-width spaces and
joiners, soft hyphens, bidirectional overrides: invisible, so they must not make a look-alike
distinct), trimmed and casefolded.
"""

from __future__ import annotations

import unicodedata

from populace.errors import ApiError, invalid_data

MAX_NAME = 256
MAX_DESCRIPTION = 1024
# NFKC and casefolding may lengthen a text; a key longer than this many times its text is
# refused rather than stored (key columns hold four times the name's limit).
MAX_KEY_GROWTH = 4


def text_key(text: str, *, trim: bool = True) -> str:
    """The comparison key of ``text``; ``trim=False`` keeps a prefix's trailing spaces."""
    if text.isascii():  # the common case, and for ASCII the steps below are just these
        return (text.strip() if trim else text).lower()
    visible = "".join(
        ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf"
    )
    if trim:
        visible = visible.strip()
    return unicodedata.normalize("NFKC", visible.casefold())


def checked_text(value: str, target: str, max_length: int) -> str:
    """A text field: at most ``max_length`` characters (and a key of bounded length), no
    control characters."""
    if len(value) > max_length or len(text_key(value)) > MAX_KEY_GROWTH * max_length:
        raise invalid_data(
            "SIZE_LIMIT_EXCEEDED",
            target,
            f"'{target}' must be at most {max_length} characters.",
            maximumValue=max_length,
        )
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise invalid_data(
            "INVALID_VALUE", target, f"'{target}' must not contain control characters."
        )
    return value


def clean_description(value: str | None) -> str | None:
    """A description: free text (line breaks too) of at most 1024 characters."""
    if value is not None and len(value) > MAX_DESCRIPTION:
        raise invalid_data(
            "SIZE_LIMIT_EXCEEDED",
            "description",
            f"'description' must be at most {MAX_DESCRIPTION} characters.",
            maximumValue=MAX_DESCRIPTION,
        )
    return value


def clean_name(name: str, *, max_length: int = MAX_NAME, target: str = "name") -> str:
    """Trim and check a display name: 1-256 characters, no control characters."""
    trimmed = name.strip()
    if not trimmed:
        raise invalid_data("EMPTY_VALUE", target, f"'{target}' must not be empty.")
    return checked_text(trimmed, target, max_length)


def duplicate_name() -> ApiError:
    return invalid_data("UNIQUENESS_VIOLATION", "name", "'name' is already in use.")
