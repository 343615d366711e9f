"""What a running deployment holds: set up once at start, shared by every request."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from populace.emulation import Emulation
from populace.http.access import RECENT_REQUESTS, Served

if TYPE_CHECKING:
    from populace.auth.keys import KeyRing
    from populace.auth.secrets import SecretBox
    from populace.auth.tokens import TokenVerifier
    from populace.config import Config
    from populace.http.limits import FailureThrottle, RateLimiter
    from populace.passwords.hashing import Hasher
    from populace.storage.database import Database


@dataclass(slots=True)
class Services:
    config: Config
    db: Database
    box: SecretBox
    keys: KeyRing
    verifier: TokenVerifier
    organization_id: str
    hasher: Hasher
    limiter: RateLimiter | None = None
    throttle: FailureThrottle | None = None
    # The test clock, fault rules and id sequence the control API sets.
    emulation: Emulation = field(default_factory=Emulation)
    # What this process served last, newest at the end (the console's live view).
    recent: deque[Served] = field(default_factory=lambda: deque(maxlen=RECENT_REQUESTS))
