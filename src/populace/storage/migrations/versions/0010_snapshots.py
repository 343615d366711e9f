"""snapshots of the directory's state for the control API (revision 0010, after 0009)"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0010", "0009"


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        sa.UniqueConstraint("name", name=op.f("uq_snapshots_name")),
    )
    op.create_index(op.f("ix_snapshots_created_at_id"), "snapshots", ["created_at", "id"])
    op.create_table(
        "snapshot_contents",
        sa.Column("snapshot_id", sa.String(length=36), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshots.id"],
            name=op.f("fk_snapshot_contents_snapshot_id_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("snapshot_id", name=op.f("pk_snapshot_contents")),
    )


def downgrade() -> None:
    op.drop_table("snapshot_contents")
    op.drop_index(op.f("ix_snapshots_created_at_id"), "snapshots")
    op.drop_table("snapshots")
