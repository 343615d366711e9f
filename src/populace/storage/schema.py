"""Tables, as SQLAlchemy Core metadata.

Every object that lives in an environment has the composite primary key
``(environment_id, id)``: a lookup by id alone cannot be written by accident, and foreign keys
between objects of one environment (a population's theme, a user's population) can only point
inside that environment. Times are epoch milliseconds (``BIGINT``): identical on SQLite and
PostgreSQL, cheap to compare for keyset paging, and formatted to ISO-8601 at the edge.

The schema itself is created by the Alembic migrations in ``migrations/versions``; this module
is what the code queries with, and a test checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)


def folded_text(length: int) -> String:
    """A casefolded lookup key. On PostgreSQL it is compared byte-wise (collation "C"), as on
    SQLite, so prefix ranges (``name sw``) and uniqueness mean the same on both."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _environment_fk() -> ForeignKey:
    return ForeignKey("environments.id", ondelete="CASCADE")


def _in_environment() -> tuple[Column[str], Column[str]]:
    """The composite key ``(environment_id, id)`` of every object that lives in an
    environment; the environment's deletion cascades to it."""
    return (
        Column("environment_id", ID, _environment_fk(), primary_key=True),
        Column("id", ID, primary_key=True),
    )


def _times() -> tuple[Column[int], Column[int]]:
    return (
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger, nullable=False),
    )


settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_key", Text, nullable=False),  # PEM, encrypted with the deployment key
    Column("created_at", BigInteger, nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False),
    *_times(),
)

licenses = Table(
    "licenses",
    metadata,
    Column("id", ID, primary_key=True),
    Column("organization_id", ID, ForeignKey("organizations.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("package", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("organization_id", ID, ForeignKey("organizations.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("name_key", folded_text(1024), nullable=False),
    Column("description", Text),
    Column("type", String(16), nullable=False),
    Column("region", String(8), nullable=False),
    Column("license_id", ID, ForeignKey("licenses.id"), nullable=False),
    *_times(),
    UniqueConstraint("organization_id", "name_key"),
    Index(None, "organization_id", "created_at", "id"),
)


password_policies = Table(
    "password_policies",
    metadata,
    *_in_environment(),
    Column("name", String(256), nullable=False),
    Column("name_key", folded_text(1024), nullable=False),  # names are unique, without case
    Column("description", Text),
    Column("is_default", Boolean, nullable=False),
    # the policy's rules as PingOne spells them (``length``, ``minCharacters``, ...)
    Column("settings", JSON, nullable=False),
    *_times(),
    UniqueConstraint("environment_id", "name_key"),
)

themes = Table(
    "themes",
    metadata,
    *_in_environment(),
    Column("template", String(64), nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("configuration", JSON, nullable=False),
    *_times(),
)

populations = Table(
    "populations",
    metadata,
    *_in_environment(),
    Column("name", String(256), nullable=False),
    # casefolded name: uniqueness and the case-insensitive eq/sw filters use this column
    Column("name_key", folded_text(1024), nullable=False),
    Column("description", Text),
    Column("is_default", Boolean, nullable=False),
    Column("password_policy_id", ID),
    Column("theme_id", ID),
    Column("preferred_language", String(35)),
    Column("alternative_identifiers", JSON),
    # kept in the same transaction as every user insert, move and delete: O(1) reads
    Column("user_count", BigInteger, nullable=False, server_default="0"),
    *_times(),
    UniqueConstraint("environment_id", "name_key"),
    ForeignKeyConstraint(
        ["environment_id", "password_policy_id"],
        ["password_policies.environment_id", "password_policies.id"],
    ),
    ForeignKeyConstraint(["environment_id", "theme_id"], ["themes.environment_id", "themes.id"]),
    Index(None, "environment_id", "created_at", "id"),
    # The database itself allows at most one default population per environment.
    Index(
        "uq_populations_one_default",
        "environment_id",
        unique=True,
        sqlite_where=text("is_default"),
        postgresql_where=text("is_default"),
    ),
)

# The predicate of the partial index above, spelled as the index spells it: SQLite renders
# `populations.c.is_default` as `is_default = 1`, which it cannot match to the index and so
# scans every population of the environment (measured: 56 user creates/s next to 20k
# populations, 1,090 with the index).
POPULATION_IS_DEFAULT = text("populations.is_default")

applications = Table(
    "applications",
    metadata,
    *_in_environment(),
    Column("name", String(256), nullable=False),
    Column("description", Text),
    Column("enabled", Boolean, nullable=False),
    Column("type", String(32), nullable=False),
    Column("protocol", String(32), nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("token_endpoint_auth_method", String(32), nullable=False),
    Column("client_secret", Text, nullable=False),  # encrypted with the deployment key
    # A rotated-out secret (encrypted) stays valid until previous_secret_expires_at.
    Column("previous_secret", Text),
    Column("previous_secret_expires_at", BigInteger),
    # OIDC sign-on settings (NULL lists are empty: a Worker signs nobody in).
    Column("response_types", JSON),
    Column("redirect_uris", JSON),
    Column("post_logout_redirect_uris", JSON),
    Column("pkce_enforcement", String(16), nullable=False, server_default="OPTIONAL"),
    Column("refresh_token_duration", Integer, nullable=False, server_default="2592000"),
    Column("refresh_token_rolling_duration", Integer, nullable=False, server_default="15552000"),
    *_times(),
    Index(None, "environment_id", "created_at", "id"),
)

# Who holds the role: exactly one of application_id, user_id and group_id is set.
role_assignments = Table(
    "role_assignments",
    metadata,
    Column("environment_id", ID, primary_key=True),  # the holder's environment
    Column("id", ID, primary_key=True),
    Column("application_id", ID),
    Column("user_id", ID),
    Column("group_id", ID),
    Column("role_id", ID, nullable=False),
    Column("scope_type", String(16), nullable=False),
    Column("scope_id", ID, nullable=False),
    # environment the scope lies in (ENVIRONMENT and POPULATION scopes): deleting that
    # environment removes the assignment with it
    Column("scope_environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE")),
    Column("created_at", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["environment_id", "application_id"],
        ["applications.environment_id", "applications.id"],
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(
        ["environment_id", "user_id"], ["users.environment_id", "users.id"], ondelete="CASCADE"
    ),
    ForeignKeyConstraint(
        ["environment_id", "group_id"], ["groups.environment_id", "groups.id"], ondelete="CASCADE"
    ),
    UniqueConstraint("environment_id", "application_id", "role_id", "scope_type", "scope_id"),
    UniqueConstraint("environment_id", "user_id", "role_id", "scope_type", "scope_id"),
    UniqueConstraint("environment_id", "group_id", "role_id", "scope_type", "scope_id"),
    Index(None, "scope_environment_id", "scope_id"),
)

users = Table(
    "users",
    metadata,
    *_in_environment(),
    Column("population_id", ID, nullable=False),
    Column("username", String(128), nullable=False),
    # casefolded copies: case-insensitive uniqueness and eq/sw filters, served by indexes
    Column("username_key", folded_text(512), nullable=False),
    Column("email", String(254), nullable=False),
    Column("email_key", folded_text(1024), nullable=False),
    Column("name_given", String(256)),
    Column("name_given_key", folded_text(1024)),
    Column("name_family", String(256)),
    Column("name_family_key", folded_text(1024)),
    Column("name_middle", String(256)),
    Column("name_formatted", String(512)),
    Column("enabled", Boolean, nullable=False),
    *_times(),
    Column("external_id", String(1024)),
    Column("mfa_enabled", Boolean, nullable=False, server_default=false()),
    Column("lifecycle_status", String(32), nullable=False, server_default="ACCOUNT_OK"),
    Column("verify_status", String(16), nullable=False, server_default="NOT_INITIATED"),
    Column("email_verified", Boolean, nullable=False, server_default=false()),
    Column("identity_provider_type", String(32), nullable=False, server_default="PING_ONE"),
    Column("identity_provider_id", ID),
    # The rest of PingOne's user (address, phones, locale, title, ...), as PingOne spells it.
    Column("profile", JSON),
    ForeignKeyConstraint(
        ["environment_id", "population_id"], ["populations.environment_id", "populations.id"]
    ),
    UniqueConstraint("environment_id", "username_key"),
    Index(None, "environment_id", "created_at", "id"),
    Index(None, "environment_id", "population_id", "created_at", "id"),
    Index(None, "environment_id", "email_key"),
    Index(None, "environment_id", "external_id"),
)

groups = Table(
    "groups",
    metadata,
    *_in_environment(),
    Column("name", String(256), nullable=False),
    Column("name_key", folded_text(1024), nullable=False),
    # "" for an environment group, else its population: names are unique within it
    Column("scope_key", String(36), nullable=False),
    Column("description", Text),
    Column("population_id", ID),
    # a filter over users: the users it matches are the group's dynamic members
    Column("user_filter", Text),
    Column("external_id", String(1024)),
    Column("custom_data", JSON),
    # kept in the same transaction as every direct membership change: O(1) reads
    Column("direct_member_count", BigInteger, nullable=False, server_default="0"),
    *_times(),
    ForeignKeyConstraint(
        ["environment_id", "population_id"], ["populations.environment_id", "populations.id"]
    ),
    UniqueConstraint("environment_id", "scope_key", "name_key"),
    Index(None, "environment_id", "created_at", "id"),
    Index(None, "environment_id", "external_id"),
)


def _group_fk(column: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["environment_id", column], ["groups.environment_id", "groups.id"], ondelete="CASCADE"
    )


# A user's memberships: DIRECT (added through the API) and DYNAMIC (matching the group's
# userFilter, recomputed whenever the user or the group changes).
group_memberships = Table(
    "group_memberships",
    metadata,
    Column("environment_id", ID, primary_key=True),
    Column("group_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    _group_fk("group_id"),
    ForeignKeyConstraint(
        ["environment_id", "user_id"], ["users.environment_id", "users.id"], ondelete="CASCADE"
    ),
    Index(None, "environment_id", "user_id", "group_id"),
)

# Group ``group_id`` is a member of group ``parent_id``: the first's members are the second's.
group_nestings = Table(
    "group_nestings",
    metadata,
    Column("environment_id", ID, primary_key=True),
    Column("group_id", ID, primary_key=True),
    Column("parent_id", ID, primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    _group_fk("group_id"),
    _group_fk("parent_id"),
    Index(None, "environment_id", "parent_id", "group_id"),
)


def _user_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["environment_id", "user_id"], ["users.environment_id", "users.id"], ondelete="CASCADE"
    )


# A user's password: its hash (argon2id, or an imported hash until its first check), whether
# it must change, and the failed checks that lock it (shared by every process).
user_passwords = Table(
    "user_passwords",
    metadata,
    Column("environment_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("hash", Text, nullable=False),
    Column("must_change", Boolean, nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    # Failed checks since the last match or lock, and checks admitted but not yet decided:
    # together they never pass the lockout's count, so parallel guesses cannot outrun it.
    Column("failed_checks", Integer, nullable=False, server_default="0"),
    Column("checks_in_flight", Integer, nullable=False, server_default="0"),
    Column("locked_until", BigInteger),
    # When the last attempt was admitted: checks left in flight with none admitted for this
    # long (a process died mid-check) are forgotten.
    Column("last_attempt_at", BigInteger),
    # The recovery code last sent (its SHA-256: it lives minutes, and is checked at most
    # RECOVERY_ATTEMPTS times), until when it holds, and the wrong codes tried against it.
    Column("recovery_hash", String(64)),
    Column("recovery_expires_at", BigInteger),
    Column("recovery_failures", Integer, nullable=False, server_default="0"),
    _user_fk(),
)

# Hashes of a user's earlier passwords, for the policy's ``history`` rule.
password_history = Table(
    "password_history",
    metadata,
    Column("environment_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("id", ID, primary_key=True),
    Column("hash", Text, nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    _user_fk(),
)


def _application_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["environment_id", "application_id"],
        ["applications.environment_id", "applications.id"],
        ondelete="CASCADE",
    )


# Sign-on (the authorization server's state, shared by every process). Secrets handed out
# (session cookies, codes, refresh tokens) are kept only as SHA-256 digests.

# A sign-on flow: one authorize request on its way to a code; it ends 15 minutes after its
# last step. browser_hash binds a flow begun in a browser to that browser's flow cookie.
sign_on_flows = Table(
    "sign_on_flows",
    metadata,
    *_in_environment(),
    Column("application_id", ID, nullable=False),
    Column("status", String(40), nullable=False),
    Column("request", JSON, nullable=False),  # the authorize parameters it answers
    Column("user_id", ID),
    Column("session_id", ID),
    Column("browser_hash", String(64)),
    Column("expires_at", BigInteger, nullable=False),
    *_times(),
    _application_fk(),
    _user_fk(),
    Index(None, "environment_id", "expires_at"),
)

# A user's sign-on session (PingOne's ST cookie): 30 days from the sign-on.
sign_on_sessions = Table(
    "sign_on_sessions",
    metadata,
    *_in_environment(),
    Column("user_id", ID, nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("authenticated_at", BigInteger, nullable=False),
    Column("active_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    *_times(),
    _user_fk(),
    UniqueConstraint("environment_id", "token_hash"),
    Index(None, "environment_id", "expires_at"),
    Index(None, "environment_id", "user_id"),
)

# What a completed flow authorized an application to do for a user: its code (single use),
# and the tokens issued from it, which end with it.
sign_on_grants = Table(
    "sign_on_grants",
    metadata,
    *_in_environment(),
    Column("application_id", ID, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("session_id", ID, nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("code_expires_at", BigInteger, nullable=False),
    Column("code_used", Boolean, nullable=False, server_default=false()),
    Column("request", JSON, nullable=False),  # redirect_uri, scope, nonce, PKCE challenge
    Column("authenticated_at", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, server_default=false()),
    Column("expires_at", BigInteger, nullable=False),  # the refresh tokens' rolling limit
    *_times(),
    _user_fk(),
    _application_fk(),
    UniqueConstraint("environment_id", "code_hash"),
    Index(None, "environment_id", "expires_at"),
    Index(None, "environment_id", "session_id"),
    Index(None, "environment_id", "user_id"),
)

# Tokens issued under a grant: access tokens by their jti, refresh tokens by their digest.
# A refresh token is used once (rotation); using it again revokes its grant.
sign_on_tokens = Table(
    "sign_on_tokens",
    metadata,
    Column("environment_id", ID, _environment_fk(), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("grant_id", ID, nullable=False),
    Column("kind", String(8), nullable=False),  # "access" or "refresh"
    Column("used", Boolean, nullable=False, server_default=false()),
    Column("revoked", Boolean, nullable=False, server_default=false()),
    Column("expires_at", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["environment_id", "grant_id"],
        ["sign_on_grants.environment_id", "sign_on_grants.id"],
        ondelete="CASCADE",
    ),
    Index(None, "environment_id", "expires_at"),
    Index(None, "environment_id", "grant_id"),
)

# Fixed one-second windows of requests per client, for the rate limit when no Redis is given.
rate_windows = Table(
    "rate_windows",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("window", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# What populace would have delivered (PingOne e-mails recovery codes): an emulator's mailbox,
# read through the control API. Kept until the user or the environment goes.
outbox_messages = Table(
    "outbox_messages",
    metadata,
    *_in_environment(),
    Column("user_id", ID, nullable=False),
    Column("type", String(64), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("content", JSON, nullable=False),
    Column("expires_at", BigInteger),
    *_times(),
    _user_fk(),
    Index(None, "environment_id", "created_at", "id"),
)

# The control API's snapshots: the directory's whole state under a name, to restore between
# tests. The content (every directory table's rows, compressed) is apart, so a list of
# snapshots reads none of it.
snapshots = Table(
    "snapshots",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    # The schema revision it was taken at: restored only into the same schema.
    Column("revision", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),  # bytes of content
    Column("created_at", BigInteger, nullable=False),
    Index(None, "created_at", "id"),
)

snapshot_contents = Table(
    "snapshot_contents",
    metadata,
    Column("snapshot_id", ID, ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

# The control API's fault rules: requests they match are answered with an error or delayed,
# in every process (each keeps a copy; ``remaining`` is counted down here, atomically).
fault_rules = Table(
    "fault_rules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("method", String(16), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("status", Integer),
    Column("latency_ms", Integer),
    Column("probability", Float),
    Column("remaining", Integer),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "created_at", "id"),
)

# What the directory looked like before each row changed since the last snapshot taken or
# restored (the "base", named in ``settings``): written by triggers on every directory table
# (``storage/journal.py``), so restoring that snapshot puts back only the rows that changed.
# ``row_key`` is the row's primary key, ``old_row`` its columns before the first change (null:
# the row did not exist), both as JSON text.
state_undo = Table(
    "state_undo",
    metadata,
    Column("table_name", String(64), primary_key=True),
    Column("row_key", Text, primary_key=True),
    Column("old_row", Text),
)

# Deployment infrastructure: not the directory, so neither in snapshots nor journaled.
INFRASTRUCTURE = {
    "settings",
    "signing_keys",
    "rate_windows",
    "snapshots",
    "snapshot_contents",
    "fault_rules",
    "state_undo",
}
# The directory's tables, parents before children: inserted in this order, cleared in the
# reverse one. A new table belongs to the directory unless it is named above, so no new data
# is left out of snapshots.
DIRECTORY: list[Table] = [t for t in metadata.sorted_tables if t.name not in INFRASTRUCTURE]
