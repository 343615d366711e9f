"""normalized name keys (revision 0004, after 0003): NFKC, no format characters, trimmed,
casefolded

Keys were casefolded only, so look-alike names (fullwidth, zero-width characters, trailing
spaces) were distinct. Each key is recomputed with ``names.text_key``. A unique key that would
now collide with another row's keeps its old value: existing rows are never refused.
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from populace.names import text_key

revision, down_revision = "0004", "0003"


def _rekey_unique(table: str, scope: str, source: str, key: str) -> None:
    """Recompute a key unique within ``scope``. A row takes its new key only when no row holds
    it as an old key and no earlier row took it, so no update ever collides."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(f"SELECT {scope}, id, {source}, {key} FROM {table} ORDER BY created_at, id")
    ).all()
    taken: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        taken[row[0]].add(row[3])
    for scope_id, row_id, text, old in rows:
        new = text_key(text)
        if new != old and new not in taken[scope_id]:
            taken[scope_id].add(new)
            conn.execute(
                sa.text(f"UPDATE {table} SET {key} = :new WHERE {scope} = :scope AND id = :id"),
                {"new": new, "scope": scope_id, "id": row_id},
            )


def _rekey_users() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT environment_id, id, email, name_given, name_family, "
            "email_key, name_given_key, name_family_key FROM users"
        )
    ).all()
    for environment_id, user_id, email, given, family, *old in rows:
        new = [text_key(email), *(None if v is None else text_key(v) for v in (given, family))]
        if new != list(old):
            conn.execute(
                sa.text(
                    "UPDATE users SET email_key = :email, name_given_key = :given, "
                    "name_family_key = :family WHERE environment_id = :env AND id = :id"
                ),
                {"email": new[0], "given": new[1], "family": new[2], "env": environment_id,
                 "id": user_id},
            )  # fmt: skip


def _resize_environment_name_key(old: int, new: int) -> None:
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.alter_column(
            "name_key",
            existing_type=sa.String(length=old),
            type_=sa.String(length=new).with_variant(
                sa.String(length=new, collation="C"), "postgresql"
            ),
            existing_nullable=False,
        )


def upgrade() -> None:
    _resize_environment_name_key(256, 1024)
    _rekey_unique("environments", "organization_id", "name", "name_key")
    _rekey_unique("populations", "environment_id", "name", "name_key")
    _rekey_unique("users", "environment_id", "username", "username_key")
    _rekey_users()


def downgrade() -> None:
    _resize_environment_name_key(1024, 256)
