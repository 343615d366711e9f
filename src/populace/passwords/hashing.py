"""Password hashes. Every password populace sets is hashed with argon2id; a hash imported in
another format is verified once with its own algorithm and replaced by argon2id on the first
successful check. Plaintext never leaves this module's callers' stack frames: it is not
stored, returned or logged.

Stored forms: argon2id's own PHC string (``$argon2id$...``); an imported hash keeps PingOne's
spelling, ``{SCHEME}encoded``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import bcrypt
from argon2 import (
    DEFAULT_MEMORY_COST,
    DEFAULT_PARALLELISM,
    DEFAULT_TIME_COST,
    PasswordHasher,
    extract_parameters,
)
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# The most characters a password may have, checked before any hashing: hashing cost grows
# with the input, and no policy allows more than 255.
MAX_PASSWORD_LENGTH = 1024

# argon2id parameters by cost setting: "standard" is argon2-cffi's default (RFC 9106's low-memory
# profile: 3 passes over 64 MiB); "cheap" is for test suites that set and check thousands of
# passwords: one pass over 64 KiB (~0.06 ms), so hashing is no longer what a suite waits on.
# (time cost, memory in KiB, parallelism)
COSTS = {
    "standard": (DEFAULT_TIME_COST, DEFAULT_MEMORY_COST, DEFAULT_PARALLELISM),
    "cheap": (1, 64, 1),
}

# Salted SHA digests, LDAP ``userPassword`` style: Base64 of digest followed by the salt.
_SALTED_SHA = {"SSHA": "sha1", "SSHA256": "sha256", "SSHA384": "sha384", "SSHA512": "sha512"}
# The imported formats populace verifies, by PingOne's prefix.
IMPORTED_SCHEMES = (*_SALTED_SHA, "BCRYPT", "ARGON2")


# Imported hashes carry their own cost: bounded, so one value cannot make every check of it
# take hours (bcrypt's cost is a power of two; argon2's memory is in KiB).
_BCRYPT = re.compile(r"\$2[aby]\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53}")
MIN_BCRYPT_COST, MAX_BCRYPT_COST = 4, 14
MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_TIME, MAX_ARGON2_PARALLELISM = 65536, 10, 4
# bcrypt reads at most 72 bytes of a password: a longer one never matches (rather than
# matching every password that shares its first 72 bytes).
BCRYPT_MAX_BYTES = 72


class UnsupportedHash(ValueError):
    """An imported hash in a format populace cannot verify."""


def scheme_of(encoded: str) -> str | None:
    """The ``{SCHEME}`` prefix of a pre-encoded password, upper-cased; None for plaintext."""
    if not encoded.startswith("{") or "}" not in encoded:
        return None
    return encoded[1 : encoded.index("}")].upper()


def check_imported(encoded: str) -> str:
    """A pre-encoded password as it will be stored; UnsupportedHash when it cannot be verified
    later (unknown scheme, or a value that does not decode)."""
    scheme = scheme_of(encoded)
    value = encoded[encoded.index("}") + 1 :] if scheme else ""
    if scheme in _SALTED_SHA:
        digest_size = hashlib.new(_SALTED_SHA[scheme]).digest_size
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise UnsupportedHash(f"the {{{scheme}}} value is not Base64") from None
        if len(raw) <= digest_size:
            raise UnsupportedHash(f"the {{{scheme}}} value holds no salt")
    elif scheme == "BCRYPT":
        match = _BCRYPT.fullmatch(value)
        if match is None or not MIN_BCRYPT_COST <= int(match["cost"]) <= MAX_BCRYPT_COST:
            raise UnsupportedHash(
                "the {BCRYPT} value must be a bcrypt string ($2b$NN$ and 53 characters of "
                f"bcrypt's Base64) of cost {MIN_BCRYPT_COST} to {MAX_BCRYPT_COST}"
            )
    elif scheme == "ARGON2":
        try:
            parameters = extract_parameters(value)
        except InvalidHashError:
            raise UnsupportedHash("the {ARGON2} value is not an argon2 PHC string") from None
        if (
            parameters.memory_cost > MAX_ARGON2_MEMORY_KIB
            or parameters.time_cost > MAX_ARGON2_TIME
            or parameters.parallelism > MAX_ARGON2_PARALLELISM
        ):
            raise UnsupportedHash(
                f"the {{ARGON2}} value may ask at most {MAX_ARGON2_MEMORY_KIB} KiB, "
                f"{MAX_ARGON2_TIME} passes and {MAX_ARGON2_PARALLELISM} lanes"
            )
    else:
        supported = ", ".join(f"{{{s}}}" for s in IMPORTED_SCHEMES)
        raise UnsupportedHash(f"populace verifies these encodings only: {supported}")
    return f"{{{scheme}}}{value}"


def _salted_sha_matches(algorithm: str, value: str, password: bytes) -> bool:
    raw = base64.b64decode(value)
    size = hashlib.new(algorithm).digest_size
    digest, salt = raw[:size], raw[size:]
    return hmac.compare_digest(hashlib.new(algorithm, password + salt).digest(), digest)


@dataclass(frozen=True, slots=True)
class Checked:
    matches: bool
    upgraded: str | None = None  # a new argon2id hash to store in place of the old one


# Threads that hash: argon2id takes tens of milliseconds and 64 MiB by design, so a burst of
# password operations waits its turn here instead of taking every thread (and memory) the
# process has.
HASH_THREADS = 4


class Hasher:
    """Hashes and checks passwords off the event loop, on threads of its own, unless the work
    is quick: at the cheap cost, hashing and checking a hash of that cost (~0.06 ms) take less
    than handing them to a thread and back. Checking a password of a user who has none costs
    the same as checking a real one."""

    def __init__(self, cost: str = "standard") -> None:
        self._pool = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="populace-hash")
        if cost not in COSTS:
            raise ValueError(f"the password hash cost must be one of {', '.join(COSTS)}")
        time_cost, memory_cost, parallelism = COSTS[cost]
        self._argon2 = PasswordHasher(time_cost, memory_cost, parallelism)
        self._dummy = self._argon2.hash("populace: no such user")
        # What every hash of the cheap cost starts with: "$argon2id$v=19$m=64,t=1,p=1$".
        self._quick = "$".join(self._dummy.split("$")[:4]) + "$" if cost == "cheap" else None

    def is_quick(self, stored: str | None) -> bool:
        """Is checking against ``stored`` quicker than a thread hop (a hash of the cheap cost,
        with the cheap cost set)? Any other hash, imported ones included, may take seconds."""
        return self._quick is not None and (stored is None or stored.startswith(self._quick))

    async def hash(self, password: str) -> str:
        if self._quick is not None:
            return self._argon2.hash(password)
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._argon2.hash, password
        )

    async def check(self, stored: str | None, password: str) -> Checked:
        """Does ``password`` match ``stored`` (None: no password, checked against a dummy
        hash so the answer takes as long)?"""
        if self.is_quick(stored):
            return self.check_now(stored, password)
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self.check_now, stored, password
        )

    def check_now(self, stored: str | None, password: str) -> Checked:
        """:meth:`check` on this thread: for a check that :meth:`is_quick`."""
        if stored is None:
            self._argon2_matches(self._dummy, password)
            return Checked(False)
        scheme = scheme_of(stored)
        if scheme is None:
            matches = self._argon2_matches(stored, password)
            rehash = matches and self._argon2.check_needs_rehash(stored)
            return Checked(matches, self._argon2.hash(password) if rehash else None)
        if not self._imported_matches(scheme, stored[len(scheme) + 2 :], password):
            # As long as an argon2id check: a fast mismatch would tell imported hashes apart.
            self._argon2_matches(self._dummy, password)
            return Checked(False)
        return Checked(True, self._argon2.hash(password))

    def _argon2_matches(self, stored: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _imported_matches(self, scheme: str, value: str, password: str) -> bool:
        secret = password.encode()
        if scheme in _SALTED_SHA:
            return _salted_sha_matches(_SALTED_SHA[scheme], value, secret)
        if scheme == "BCRYPT":
            if len(secret) > BCRYPT_MAX_BYTES:
                return False
            try:
                return bcrypt.checkpw(secret, value.encode())
            except ValueError:  # a salt bcrypt will not read: no password matches it
                return False
        return self._argon2_matches(value, password)  # {ARGON2}: argon2-cffi reads any variant
