"""a password's checks in flight, counted apart from its failures (revision 0013, after 0012)"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0013", "0012"


def upgrade() -> None:
    with op.batch_alter_table("user_passwords", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("checks_in_flight", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("user_passwords", schema=None) as batch_op:
        batch_op.drop_column("checks_in_flight")
