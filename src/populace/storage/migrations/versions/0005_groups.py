"""groups, memberships, nestings, and the rest of PingOne's user (revision 0005, after 0004)"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0005", "0004"

ID = sa.String(length=36)


def _key(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length=length).with_variant(
        sa.String(length=length, collation="C"), "postgresql"
    )


def _group_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["environment_id", column],
        ["groups.environment_id", "groups.id"],
        name=op.f(f"fk_{table}_environment_id_{column}_groups"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("name_key", _key(1024), nullable=False),
        sa.Column("scope_key", ID, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("population_id", ID, nullable=True),
        sa.Column("user_filter", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=1024), nullable=True),
        sa.Column("custom_data", sa.JSON(), nullable=True),
        sa.Column("direct_member_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id", "population_id"],
            ["populations.environment_id", "populations.id"],
            name=op.f("fk_groups_environment_id_population_id_populations"),
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_groups_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("environment_id", "id", name=op.f("pk_groups")),
        sa.UniqueConstraint(
            "environment_id",
            "scope_key",
            "name_key",
            name=op.f("uq_groups_environment_id_scope_key_name_key"),
        ),
    )
    op.create_index(
        op.f("ix_groups_environment_id_created_at_id"),
        "groups",
        ["environment_id", "created_at", "id"],
    )
    op.create_index(
        op.f("ix_groups_environment_id_external_id"), "groups", ["environment_id", "external_id"]
    )
    op.create_table(
        "group_memberships",
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _group_fk("group_memberships", "group_id"),
        sa.ForeignKeyConstraint(
            ["environment_id", "user_id"],
            ["users.environment_id", "users.id"],
            name=op.f("fk_group_memberships_environment_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "environment_id", "group_id", "user_id", "kind", name=op.f("pk_group_memberships")
        ),
    )
    op.create_index(
        op.f("ix_group_memberships_environment_id_user_id_group_id"),
        "group_memberships",
        ["environment_id", "user_id", "group_id"],
    )
    op.create_table(
        "group_nestings",
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("parent_id", ID, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _group_fk("group_nestings", "group_id"),
        _group_fk("group_nestings", "parent_id"),
        sa.PrimaryKeyConstraint(
            "environment_id", "group_id", "parent_id", name=op.f("pk_group_nestings")
        ),
    )
    op.create_index(
        op.f("ix_group_nestings_environment_id_parent_id_group_id"),
        "group_nestings",
        ["environment_id", "parent_id", "group_id"],
    )
    # Plain ADD COLUMNs (constant defaults): no table rebuild, however many users there are.
    for column in (
        sa.Column("external_id", sa.String(length=1024), nullable=True),
        sa.Column("mfa_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("lifecycle_status", sa.String(32), server_default="ACCOUNT_OK", nullable=False),
        sa.Column("verify_status", sa.String(16), server_default="NOT_INITIATED", nullable=False),
        sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "identity_provider_type", sa.String(32), server_default="PING_ONE", nullable=False
        ),
        sa.Column("identity_provider_id", ID, nullable=True),
        sa.Column("profile", sa.JSON(), nullable=True),
    ):
        op.add_column("users", column)
    op.create_index(
        op.f("ix_users_environment_id_external_id"), "users", ["environment_id", "external_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_users_environment_id_external_id"), table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        for name in (
            "profile", "identity_provider_id", "identity_provider_type", "email_verified",
            "verify_status", "lifecycle_status", "mfa_enabled", "external_id",
        ):  # fmt: skip
            batch_op.drop_column(name)
    op.drop_table("group_nestings")
    op.drop_table("group_memberships")
    op.drop_table("groups")
