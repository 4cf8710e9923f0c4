"""Knowledge base: every version of every article, and the search index.

`kb_fts` is the search index, one row per article and language, holding the analysed
terms (hotline/knowledge/text.py): on SQLite an FTS5 table ranked with BM25, on
PostgreSQL a table of weighted tsvectors with a GIN index, ranked with ts_rank. It is
rebuilt from `kb_versions` whenever articles change, so it holds nothing of its own.

Revision ID: 0007_knowledge
Revises: 0006_survey_answered_shape
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_knowledge"
down_revision: str | None = "0006_survey_answered_shape"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_INDEX = """
CREATE VIRTUAL TABLE kb_fts USING fts5(
    article_id UNINDEXED, language UNINDEXED, valid_from UNINDEXED, valid_until UNINDEXED,
    questions, tags, answer,
    tokenize = 'unicode61 remove_diacritics 0'
)
"""
PG_INDEX = """
CREATE TABLE kb_fts (
    article_id VARCHAR(100) NOT NULL,
    language VARCHAR(8) NOT NULL,
    valid_from VARCHAR(10) NOT NULL,
    valid_until VARCHAR(10) NOT NULL,
    terms TSVECTOR NOT NULL,
    CONSTRAINT pk_kb_fts PRIMARY KEY (article_id, language)
)
"""


def upgrade() -> None:
    op.create_table(
        "kb_versions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("article_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("author", sa.String(100), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_versions"),
        sa.UniqueConstraint("article_id", "version", name="uq_kb_versions_article_id_version"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_kb_versions_article_id", "kb_versions", ["article_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_INDEX)
        op.execute("CREATE INDEX ix_kb_fts_terms ON kb_fts USING GIN (terms)")
    else:
        op.execute(SQLITE_INDEX)


def downgrade() -> None:
    op.execute("DROP TABLE kb_fts")
    op.drop_index("ix_kb_versions_article_id", "kb_versions")
    op.drop_table("kb_versions")
