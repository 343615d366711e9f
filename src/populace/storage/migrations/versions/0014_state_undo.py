"""the undo journal that makes restoring the last snapshot proportional to what changed
(revision 0014, after 0013); its triggers are installed by ``storage/journal.py``"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0014", "0013"


def upgrade() -> None:
    op.create_table(
        "state_undo",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("row_key", sa.Text(), nullable=False),
        sa.Column("old_row", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("table_name", "row_key", name=op.f("pk_state_undo")),
    )


def downgrade() -> None:
    op.drop_table("state_undo")
