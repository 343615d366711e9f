"""OIDC applications' sign-on settings and a rotated secret; sign-on flows, sessions, grants
and tokens (revision 0011, after 0010)"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0011", "0010"

ID = sa.String(length=36)


def _environment_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["environment_id"],
        ["environments.id"],
        name=op.f(f"fk_{table}_environment_id_environments"),
        ondelete="CASCADE",
    )


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["environment_id", "user_id"],
        ["users.environment_id", "users.id"],
        name=op.f(f"fk_{table}_environment_id_user_id_users"),
        ondelete="CASCADE",
    )


def _application_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["environment_id", "application_id"],
        ["applications.environment_id", "applications.id"],
        name=op.f(f"fk_{table}_environment_id_application_id_applications"),
        ondelete="CASCADE",
    )


def _keyed(table: str) -> list[Any]:
    """The (environment_id, id) key, the environment's cascade and the two times."""
    return [
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("environment_id", "id", name=op.f(f"pk_{table}")),
        _environment_fk(table),
    ]


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_secret", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("previous_secret_expires_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("response_types", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("redirect_uris", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "pkce_enforcement", sa.String(length=16), server_default="OPTIONAL", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "refresh_token_duration", sa.Integer(), server_default="2592000", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "refresh_token_rolling_duration",
                sa.Integer(),
                server_default="15552000",
                nullable=False,
            )
        )
    op.create_table(
        "sign_on_flows",
        sa.Column("application_id", ID, nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("session_id", ID, nullable=True),
        sa.Column("browser_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        *_keyed("sign_on_flows"),
        _application_fk("sign_on_flows"),
        _user_fk("sign_on_flows"),
    )
    op.create_table(
        "sign_on_sessions",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("authenticated_at", sa.BigInteger(), nullable=False),
        sa.Column("active_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        *_keyed("sign_on_sessions"),
        _user_fk("sign_on_sessions"),
        sa.UniqueConstraint(
            "environment_id",
            "token_hash",
            name=op.f("uq_sign_on_sessions_environment_id_token_hash"),
        ),
    )
    op.create_table(
        "sign_on_grants",
        sa.Column("application_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code_expires_at", sa.BigInteger(), nullable=False),
        sa.Column("code_used", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("authenticated_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        *_keyed("sign_on_grants"),
        _user_fk("sign_on_grants"),
        _application_fk("sign_on_grants"),
        sa.UniqueConstraint(
            "environment_id", "code_hash", name=op.f("uq_sign_on_grants_environment_id_code_hash")
        ),
    )
    op.create_table(
        "sign_on_tokens",
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("grant_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("used", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("environment_id", "key", name=op.f("pk_sign_on_tokens")),
        _environment_fk("sign_on_tokens"),
        sa.ForeignKeyConstraint(
            ["environment_id", "grant_id"],
            ["sign_on_grants.environment_id", "sign_on_grants.id"],
            name=op.f("fk_sign_on_tokens_environment_id_grant_id_sign_on_grants"),
            ondelete="CASCADE",
        ),
    )
    for table, column in [
        ("sign_on_flows", "expires_at"),
        ("sign_on_sessions", "expires_at"),
        ("sign_on_sessions", "user_id"),
        ("sign_on_grants", "expires_at"),
        ("sign_on_grants", "session_id"),
        ("sign_on_grants", "user_id"),
        ("sign_on_tokens", "expires_at"),
        ("sign_on_tokens", "grant_id"),
    ]:
        op.create_index(
            op.f(f"ix_{table}_environment_id_{column}"), table, ["environment_id", column]
        )


def downgrade() -> None:
    for table in ("sign_on_tokens", "sign_on_grants", "sign_on_sessions", "sign_on_flows"):
        op.drop_table(table)
    with op.batch_alter_table("applications", schema=None) as batch_op:
        for column in (
            "refresh_token_rolling_duration",
            "refresh_token_duration",
            "pkce_enforcement",
            "post_logout_redirect_uris",
            "redirect_uris",
            "response_types",
            "previous_secret_expires_at",
            "previous_secret",
        ):
            batch_op.drop_column(column)
