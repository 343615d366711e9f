"""A password policy's rules, applied to a candidate password (below HTTP, no storage).

Settings are read as PingOne spells them (``length.min``, ``minCharacters``, ...), the way the
environment's password policies are stored. A rule whose setting is absent is not enforced.
What fails is reported as PingOne does: the keys of the unsatisfied requirements, and for each
one a sentence saying what it asks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# A few of the passwords most often seen in breaches, for ``excludesCommonlyUsed``; compared
# without case. (PingOne's list is larger and not published.)
COMMON_PASSWORDS = frozenset(
    [
        "123456",
        "123456789",
        "12345678",
        "1234567890",
        "password",
        "password1",
        "password123",
        "qwerty",
        "qwerty123",
        "111111",
        "123123",
        "abc123",
        "1q2w3e4r",
        "iloveyou",
        "admin",
        "welcome",
        "welcome1",
        "letmein",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "sunshine",
        "princess",
        "master",
        "shadow",
        "superman",
        "trustno1",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "changeme",
        "secret",
        "summer2024",
        "winter2024",
        "qwertyuiop",
        "asdfghjkl",
        "zaq12wsx",
        "000000",
    ]
)


# The character classes ``minCharacters`` counts, keyed as PingOne keys them.
CHARACTER_CLASSES = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "~!@#$%^&*()-_=+[]{}|;:,.<>/?",
)

# The sequence rules: their setting, the bounds PingOne allows for ``maxLength``, and the runs
# they look for (forwards or backwards, without case).
SEQUENCE_RULES: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "alphabetSequenceRule": (2, 3, ("abcdefghijklmnopqrstuvwxyz",)),
    "numberSequenceRule": (2, 3, ("0123456789",)),
    "qwertySequenceRule": (3, 3, ("qwertyuiop", "asdfghjkl", "zxcvbnm")),
    "shiftedNumberRowSequenceRule": (3, 3, ("!@#$%^&*()",)),
}

# ``minComplexity`` is the days an attacker needs to try every password of the same length
# and alphabet (Gibson's "haystack"), at an offline attacker's hundred billion guesses a second.
GUESSES_PER_DAY = 100_000_000_000 * 86_400
# The alphabets a haystack counts, by the characters they hold; anything else adds one more.
_ALPHABETS = (
    (str.islower, 26),
    (str.isupper, 26),
    (str.isdigit, 10),
    (lambda ch: ch.isascii() and ch.isprintable() and not ch.isalnum(), 33),
)
_OTHER_ALPHABET = 100


def _min_characters(settings: Mapping[str, Any], password: str) -> str | None:
    wanted = settings.get("minCharacters") or {}
    missing = [
        f"at least {count} of {alphabet}"
        for alphabet, count in wanted.items()
        if sum(ch in alphabet for ch in password) < count
    ]
    return "The password must contain " + "; ".join(missing) + "." if missing else None


def _length(settings: Mapping[str, Any], password: str) -> str | None:
    length = settings.get("length") or {}
    low, high = length.get("min"), length.get("max")
    if (low is not None and len(password) < low) or (high is not None and len(password) > high):
        return f"The password must be {low or 1} to {high or 'any number of'} characters long."
    return None


def _max_repeated(settings: Mapping[str, Any], password: str) -> str | None:
    limit = settings.get("maxRepeatedCharacters")
    if limit is None:
        return None
    run, longest = 0, 0
    for index, ch in enumerate(password):
        run = run + 1 if index and password[index - 1] == ch else 1
        longest = max(longest, run)
    if longest > limit:
        return f"The password must not repeat a character more than {limit} times in a row."
    return None


def _min_unique(settings: Mapping[str, Any], password: str) -> str | None:
    wanted = settings.get("minUniqueCharacters")
    if wanted is not None and len(set(password)) < wanted:
        return f"The password must contain at least {wanted} different characters."
    return None


def _commonly_used(settings: Mapping[str, Any], password: str) -> str | None:
    if settings.get("excludesCommonlyUsed") and password.casefold() in COMMON_PASSWORDS:
        return "The password must not be a commonly used password."
    return None


def _sequences(settings: Mapping[str, Any], password: str) -> dict[str, str]:
    failed = {}
    folded = password.casefold()
    for key, (_, _, runs) in SEQUENCE_RULES.items():
        limit = (settings.get(key) or {}).get("maxLength")
        if limit is None:
            continue
        forbidden = [run[i : i + limit + 1] for run in runs for i in range(len(run) - limit)]
        forbidden += [part[::-1] for part in forbidden]
        if any(part in folded for part in forbidden):
            failed[key] = f"The password must not hold more than {limit} characters in sequence."
    return failed


def haystack_days(password: str) -> int:
    """Days to try every password up to this one's length over the alphabets it uses."""
    size = sum(count for holds, count in _ALPHABETS if any(holds(ch) for ch in password))
    if any(not ch.isascii() for ch in password):
        size += _OTHER_ALPHABET
    size = max(size, 2)
    length = min(len(password), 64)  # beyond, every alphabet's haystack is astronomic
    guesses = (size ** (length + 1) - size) // (size - 1)
    return guesses // GUESSES_PER_DAY


def _complexity(settings: Mapping[str, Any], password: str) -> str | None:
    wanted = settings.get("minComplexity")
    if wanted is not None and haystack_days(password) < wanted:
        return "The password is too easy to guess: make it longer, or mix character classes."
    return None


def unsatisfied(
    settings: Mapping[str, Any],
    password: str,
    profile: Iterable[str] = (),
    current: str | None = None,
) -> dict[str, str]:
    """The requirements ``password`` does not meet, each with what it asks. ``profile``: the
    user's attribute values (``excludesProfileData``); ``current``: the password it replaces,
    when known (``notSimilarToCurrent``). History and age need stored hashes and times: they
    are the rules module's."""
    failed: dict[str, str] = {}
    for key, rule in (
        ("length", _length),
        ("minCharacters", _min_characters),
        ("maxRepeatedCharacters", _max_repeated),
        ("minUniqueCharacters", _min_unique),
        ("excludesCommonlyUsed", _commonly_used),
        ("minComplexity", _complexity),
    ):
        reason = rule(settings, password)
        if reason is not None:
            failed[key] = reason
    failed.update(_sequences(settings, password))
    folded = password.casefold()
    if settings.get("excludesProfileData") and any(
        len(value) >= 3 and value.casefold() in folded for value in profile
    ):
        failed["excludesProfileData"] = "The password must not contain the user's profile data."
    # Similarity costs length squared: measured only for a password of acceptable length.
    if (
        settings.get("notSimilarToCurrent")
        and current is not None
        and "length" not in failed
        and len(password) <= MAX_SIMILARITY_LENGTH
        and _similar(current, password)
    ):
        failed["notSimilarToCurrent"] = "The password must not be similar to the current one."
    return failed


MAX_SIMILARITY_LENGTH = 256


def _similar(current: str, candidate: str) -> bool:
    """Similar: an edit distance of at most a quarter of the longer password (at least 2)."""
    a, b = current.casefold(), candidate.casefold()
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        row = [i]
        for j, cb in enumerate(b, start=1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = row
    return previous[-1] <= max(2, max(len(a), len(b)) // 4)
