"""the control API's fault rules (revision 0012, after 0011)"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0012", "0011"


def upgrade() -> None:
    op.create_table(
        "fault_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fault_rules")),
    )
    op.create_index(op.f("ix_fault_rules_created_at_id"), "fault_rules", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fault_rules_created_at_id"), "fault_rules")
    op.drop_table("fault_rules")
