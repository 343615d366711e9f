"""password recovery codes, when a password's last attempt was counted, and the outbox that
holds what would be delivered (revision 0009, after 0008)"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0009", "0008"

ID = sa.String(length=36)


def upgrade() -> None:
    with op.batch_alter_table("user_passwords", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_attempt_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("recovery_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("recovery_expires_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("recovery_failures", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "outbox_messages",
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_outbox_messages_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id", "user_id"],
            ["users.environment_id", "users.id"],
            name=op.f("fk_outbox_messages_environment_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("environment_id", "id", name=op.f("pk_outbox_messages")),
    )
    op.create_index(
        op.f("ix_outbox_messages_environment_id_created_at_id"),
        "outbox_messages",
        ["environment_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_messages_environment_id_created_at_id"), "outbox_messages")
    op.drop_table("outbox_messages")
    with op.batch_alter_table("user_passwords", schema=None) as batch_op:
        batch_op.drop_column("recovery_failures")
        batch_op.drop_column("recovery_expires_at")
        batch_op.drop_column("recovery_hash")
        batch_op.drop_column("last_attempt_at")
