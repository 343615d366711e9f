"""role assignments held by users and groups too (revision 0006, after 0005)"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0006", "0005"

SUBJECTS = (("user_id", "users"), ("group_id", "groups"))


def _unique(column: str) -> str:
    return f"uq_role_assignments_environment_id_{column}_role_id_scope_type_scope_id"


def upgrade() -> None:
    # A rebuild of a small table, with foreign keys off (see storage/database.py).
    with op.batch_alter_table("role_assignments", schema=None) as batch_op:
        batch_op.alter_column("application_id", existing_type=sa.String(36), nullable=True)
        for column, table in SUBJECTS:
            batch_op.add_column(sa.Column(column, sa.String(length=36), nullable=True))
            batch_op.create_unique_constraint(
                batch_op.f(_unique(column)),
                ["environment_id", column, "role_id", "scope_type", "scope_id"],
            )
            batch_op.create_foreign_key(
                batch_op.f(f"fk_role_assignments_environment_id_{column}_{table}"),
                table,
                ["environment_id", column],
                ["environment_id", "id"],
                ondelete="CASCADE",
            )


def downgrade() -> None:
    op.execute("DELETE FROM role_assignments WHERE application_id IS NULL")
    with op.batch_alter_table("role_assignments", schema=None) as batch_op:
        for column, table in SUBJECTS:
            batch_op.drop_constraint(
                batch_op.f(f"fk_role_assignments_environment_id_{column}_{table}"),
                type_="foreignkey",
            )
            batch_op.drop_constraint(batch_op.f(_unique(column)), type_="unique")
            batch_op.drop_column(column)
        batch_op.alter_column("application_id", existing_type=sa.String(36), nullable=False)
