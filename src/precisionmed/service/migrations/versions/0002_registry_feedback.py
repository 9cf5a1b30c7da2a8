"""The model registry and the feedback review: model versions get their data checksums, their
source and their evaluation (the gate's figures); feedback gets who reviewed it, when.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("data_checksums", sa.JSON, nullable=True))
    op.add_column("model_versions", sa.Column("source", sa.String(16), nullable=True))
    op.add_column("model_versions", sa.Column("evaluation", sa.JSON, nullable=True))
    op.add_column("feedback", sa.Column("reviewed_by", sa.Integer, nullable=True))
    op.add_column("feedback", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("evaluation")
        batch.drop_column("source")
        batch.drop_column("data_checksums")
