"""canonical URLs: one copy counted once, a site by its registered domain

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00.000000

Before this, a page met under ``?utm_source=...``, ``#comments``, ``http://`` and ``https://``
or a ``WWW.`` host was several documents on several sites (issue 9.4). Existing databases keep
their data:

- ``captures`` and ``documents`` get ``seen_url`` (the URL as stored so far) and ``url_key``
  (:func:`spintrace.db.urls.url_key`); ``url`` becomes canonical in place. They are unique on
  ``url_key`` instead of ``url``, and ``captures.url`` is indexed (resumed crawls look it up).
- Duplicate captures (same key and body) merge into the oldest row (lowest id): documents and
  indicators that named a duplicate name it.
- Duplicate documents (same role, key and text) merge into the oldest row: matches (with their
  evidence), match checks, token tables and signatures of the others move to it, or are
  dropped where it has its own (for the same source, page or kind); it keeps its metadata and
  takes what it lacked (capture, title, author, date...) from the others. When a source was
  merged, the index is rebuilt by the next ``match`` (segments, source signatures and token
  tables dropped): a segment must never name a document that is gone.
- Sites become registered domains (:func:`spintrace.db.urls.site_domain`); each document and
  capture moves to the site of its own URL. Sites that become one merge into the oldest:
  indicators of the same kind and value add up their ``captures`` (earliest ``first_seen``,
  latest ``last_seen``, evidence of the first sighting), ``substitution_sites`` add up their
  ``pairs``. (A site whose pages split between several new sites, a loopback host seen on
  several ports, keeps its indicators on the one most of its pages went to.)

Downgrade restores every URL as it was seen; merged rows stay merged.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from spintrace.db.models import UTCDateTime
from spintrace.db.urls import canonical_url, site_domain, url_key

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as this migration knows them (never the models, which move on).
sites = sa.table(
    "sites",
    sa.column("id", sa.Integer),
    sa.column("domain", sa.String),
    sa.column("first_seen", UTCDateTime()),
)
captures = sa.table(
    "captures",
    sa.column("id", sa.Integer),
    sa.column("site_id", sa.Integer),
    sa.column("url", sa.Text),
    sa.column("seen_url", sa.Text),
    sa.column("url_key", sa.Text),
    sa.column("sha256", sa.String),
)
documents = sa.table(
    "documents",
    *(sa.column(name, sa.Integer) for name in ("id", "site_id", "capture_id")),
    *(sa.column(name, sa.Text) for name in ("role", "url", "seen_url", "url_key", "text_sha256")),
    *(sa.column(name, sa.Text) for name in ("title", "author", "language", "canonical_url")),
    sa.column("published", UTCDateTime()),
)
# Metadata a surviving document takes from a merged one when it has none of its own.
FILLED = ("capture_id", "title", "author", "published", "language", "canonical_url")
matches = sa.table(
    "matches", sa.column("id"), sa.column("page_id", sa.Integer), sa.column("source_id")
)
match_checks = sa.table("match_checks", sa.column("page_id", sa.Integer), sa.column("outcome"))
tokens = sa.table("document_tokens", sa.column("document_id", sa.Integer), sa.column("kind"))
signatures = sa.table(
    "signatures",
    sa.column("document_id", sa.Integer),
    *(sa.column(name) for name in ("kind", "num_perm", "seed", "scheme")),
)
indicators = sa.table(
    "indicators",
    *(sa.column(name, sa.Integer) for name in ("id", "site_id", "first_capture_id", "captures")),
    sa.column("kind", sa.String),
    sa.column("value", sa.Text),
    sa.column("evidence", sa.Text),
    sa.column("first_seen", UTCDateTime()),
    sa.column("last_seen", UTCDateTime()),
)
substitution_sites = sa.table(
    "substitution_sites",
    *(sa.column(name, sa.Integer) for name in ("substitution_id", "site_id", "pairs")),
)
index_segments = sa.table("index_segments", sa.column("id"))

CHUNK = 1000


def _many(bind: sa.Connection, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        bind.execute(statement, list(rows[start : start + CHUNK]))


def _check_foreign_keys_off(bind: sa.Connection) -> None:
    # SQLite batch mode rebuilds a table by DROP TABLE + rename; with foreign keys enforced,
    # that DROP would cascade-delete every match, check and signature of every document.
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "migration 0005 must run with SQLite foreign keys off (spintrace db upgrade does)"
        )


def _canonicalise(
    table: Any, same: Sequence[str]
) -> tuple[list[tuple[int, int]], list[dict[str, Any]]]:
    """Every row of ``table`` gets ``seen_url`` (its URL so far). Returns the rows that repeat
    an older one (same URL key and ``same`` columns) as (duplicate, oldest) pairs, and the new
    ``url`` and ``url_key`` of the others, to set once the duplicates are merged away."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(table.c.id, table.c.url, *(table.c[c] for c in same)).order_by(table.c.id)
    ).all()
    oldest: dict[tuple[Any, ...], int] = {}
    duplicates: list[tuple[int, int]] = []
    updates: list[dict[str, Any]] = []
    for row_id, url, *rest in rows:
        key = url_key(url)
        survivor = oldest.setdefault((key, *rest), row_id)
        if survivor != row_id:
            duplicates.append((row_id, survivor))
        else:
            updates.append({"_id": row_id, "_url": canonical_url(url), "_key": key})
    bind.execute(sa.update(table).values(seen_url=table.c.url))
    return duplicates, updates


def _set_urls(table: Any, updates: Sequence[dict[str, Any]]) -> None:
    # After the duplicates are gone, no row can take a URL another still holds: the canonical
    # form of a canonical URL is itself, so that other row would have been a duplicate.
    _many(
        op.get_bind(),
        sa.update(table)
        .where(table.c.id == sa.bindparam("_id"))
        .values(url=sa.bindparam("_url"), url_key=sa.bindparam("_key")),
        updates,
    )


def _merge_captures() -> None:
    bind = op.get_bind()
    duplicates, updates = _canonicalise(captures, ["sha256"])
    for duplicate, oldest in duplicates:
        for table, column in ((documents, "capture_id"), (indicators, "first_capture_id")):
            bind.execute(
                sa.update(table).where(table.c[column] == duplicate).values({column: oldest})
            )
        bind.execute(sa.delete(captures).where(captures.c.id == duplicate))
    _set_urls(captures, updates)


def _move(table: Any, column: str, duplicate: int, oldest: int, same: Iterable[str]) -> None:
    """Rows of ``table`` naming ``duplicate`` in ``column`` name ``oldest`` instead, unless
    ``oldest`` has a row equal on the ``same`` columns; the rest are deleted."""
    bind = op.get_bind()
    mine = table.alias("mine")
    clash = sa.exists().where(mine.c[column] == oldest, *(mine.c[c] == table.c[c] for c in same))
    bind.execute(
        sa.update(table).where(table.c[column] == duplicate, ~clash).values({column: oldest})
    )
    bind.execute(sa.delete(table).where(table.c[column] == duplicate))


def _merge_document(duplicate: int, oldest: int) -> str:
    """Merge document ``duplicate`` into ``oldest`` and delete it; returns its role."""
    bind = op.get_bind()
    _move(matches, "page_id", duplicate, oldest, ["source_id"])
    _move(matches, "source_id", duplicate, oldest, ["page_id"])
    _move(match_checks, "page_id", duplicate, oldest, [])
    _move(tokens, "document_id", duplicate, oldest, ["kind"])
    _move(signatures, "document_id", duplicate, oldest, ["kind", "num_perm", "seed", "scheme"])
    has_match = sa.exists().where(matches.c.page_id == oldest)
    bind.execute(
        sa.update(match_checks)
        .where(match_checks.c.page_id == oldest, has_match)
        .values(outcome="linked")
    )
    role, *theirs = bind.execute(
        sa.select(documents.c.role, *(documents.c[c] for c in FILLED)).where(
            documents.c.id == duplicate
        )
    ).one()
    filled = {c: v for c, v in zip(FILLED, theirs, strict=True) if v is not None}
    if filled:
        bind.execute(
            sa.update(documents)
            .where(documents.c.id == oldest)
            .values(
                {
                    c: sa.func.coalesce(documents.c[c], sa.literal(v, documents.c[c].type))
                    for c, v in filled.items()
                }
            )
        )
    bind.execute(sa.delete(documents).where(documents.c.id == duplicate))
    return str(role)


def _merge_documents() -> None:
    bind = op.get_bind()
    duplicates, updates = _canonicalise(documents, ["role", "text_sha256"])
    roles = {_merge_document(duplicate, oldest) for duplicate, oldest in duplicates}
    _set_urls(documents, updates)
    if "source" in roles:
        # A segment must never name a source that is gone: the next `match` indexes every
        # source again (signatures mark a source indexed; token tables are made with them).
        source_ids = sa.select(documents.c.id).where(documents.c.role == "source")
        bind.execute(sa.delete(index_segments))
        bind.execute(sa.delete(signatures).where(signatures.c.document_id.in_(source_ids)))
        bind.execute(sa.delete(tokens).where(tokens.c.document_id.in_(source_ids)))


def _merge_indicators(site: int, into: int) -> None:
    bind = op.get_bind()
    columns = indicators.c
    for row in bind.execute(sa.select(indicators).where(columns.site_id == site)).all():
        mine = bind.execute(
            sa.select(indicators).where(
                columns.site_id == into, columns.kind == row.kind, columns.value == row.value
            )
        ).first()
        if mine is None:
            bind.execute(sa.update(indicators).where(columns.id == row.id).values(site_id=into))
            continue
        first = row if row.first_seen < mine.first_seen else mine
        bind.execute(
            sa.update(indicators)
            .where(columns.id == mine.id)
            .values(
                captures=mine.captures + row.captures,
                first_seen=first.first_seen,
                last_seen=max(mine.last_seen, row.last_seen),
                evidence=first.evidence,
                first_capture_id=first.first_capture_id,
            )
        )
        bind.execute(sa.delete(indicators).where(columns.id == row.id))


def _merge_substitutions(site: int, into: int) -> None:
    bind = op.get_bind()
    columns = substitution_sites.c
    rows = bind.execute(
        sa.select(columns.substitution_id, columns.pairs).where(columns.site_id == site)
    ).all()
    for substitution_id, pairs in rows:
        this = (columns.substitution_id == substitution_id) & (columns.site_id == site)
        mine = (columns.substitution_id == substitution_id) & (columns.site_id == into)
        if bind.execute(sa.select(columns.pairs).where(mine)).first() is None:
            bind.execute(sa.update(substitution_sites).where(this).values(site_id=into))
        else:
            bind.execute(
                sa.update(substitution_sites).where(mine).values(pairs=columns.pairs + pairs)
            )
            bind.execute(sa.delete(substitution_sites).where(this))


def _merge_sites() -> None:
    """Each document and capture to the site of its URL; sites that are one merged."""
    bind = op.get_bind()
    old = {i: (d, seen) for i, d, seen in bind.execute(sa.select(sites)).all()}
    placed = [
        (table, row_id, site_id, site_domain(url))
        for table in (documents, captures)
        for row_id, site_id, url in bind.execute(
            sa.select(table.c.id, table.c.site_id, table.c.url)
        ).all()
    ]
    votes: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for _, _, site_id, domain in placed:
        votes[site_id][domain] += 1
    target = {}
    for site_id, (domain, _) in old.items():
        counts = votes[site_id]
        target[site_id] = (
            min(counts, key=lambda d: (-counts[d], d)) if counts else site_domain(domain)
        )
    keeper: dict[str, int] = {}
    for site_id in sorted(old):
        keeper.setdefault(target[site_id], site_id)
    for _, _, site_id, domain in placed:  # a host seen on several ports: new sites
        if domain not in keeper:
            name = f"~new {len(keeper)}"
            bind.execute(sa.insert(sites).values(domain=name, first_seen=old[site_id][1]))
            keeper[domain] = bind.execute(
                sa.select(sites.c.id).where(sites.c.domain == name)
            ).scalar_one()
    for table in (documents, captures):
        moves = [
            {"_id": row_id, "_site": keeper[domain]}
            for t, row_id, site_id, domain in placed
            if t is table and keeper[domain] != site_id
        ]
        _many(
            bind,
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values(site_id=sa.bindparam("_site")),
            moves,
        )
    for site_id in sorted(old):
        into = keeper[target[site_id]]
        if into != site_id:
            _merge_indicators(site_id, into)
            _merge_substitutions(site_id, into)
            bind.execute(sa.delete(sites).where(sites.c.id == site_id))
    # Through a name no host can have, so that no two sites ever share a domain on the way.
    renamed = {i: d for d, i in keeper.items() if i not in old or old[i][0] != d}
    for site_id in renamed:
        bind.execute(sa.update(sites).where(sites.c.id == site_id).values(domain=f"~{site_id}"))
    for site_id, domain in renamed.items():
        bind.execute(sa.update(sites).where(sites.c.id == site_id).values(domain=domain))
    for domain, site_id in keeper.items():
        merged = [seen for i, (_, seen) in old.items() if target[i] == domain]
        if len(merged) > 1:
            bind.execute(
                sa.update(sites).where(sites.c.id == site_id).values(first_seen=min(merged))
            )


def upgrade() -> None:
    _check_foreign_keys_off(op.get_bind())
    for name in ("captures", "documents"):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("seen_url", sa.Text(), nullable=True))
            batch_op.add_column(sa.Column("url_key", sa.Text(), nullable=True))
    # Each merged duplicate re-points the rows naming it: without an index on these columns
    # every re-point scans its whole table, so the cost grows with duplicates x rows. Dropped
    # again below.
    temporary = [
        ("tmp_0005_documents_capture_id", "documents", ["capture_id"]),
        ("tmp_0005_indicators_first_capture_id", "indicators", ["first_capture_id"]),
    ]
    for name, table_name, columns in temporary:
        op.create_index(name, table_name, columns)
    _merge_captures()
    _merge_documents()
    _merge_sites()
    for name, table_name, _columns in temporary:
        op.drop_index(name, table_name=table_name)
    unique = {"captures": ["url", "sha256"], "documents": ["role", "url", "text_sha256"]}
    for name, columns in unique.items():
        keyed = [("url_key" if c == "url" else c) for c in columns]
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.alter_column("seen_url", existing_type=sa.Text(), nullable=False)
            batch_op.alter_column("url_key", existing_type=sa.Text(), nullable=False)
            batch_op.drop_constraint(f"uq_{name}_{'_'.join(columns)}", type_="unique")
            batch_op.create_unique_constraint(batch_op.f(f"uq_{name}_{'_'.join(keyed)}"), keyed)
            if name == "captures":
                batch_op.create_index(batch_op.f("ix_captures_url"), ["url"], unique=False)


def downgrade() -> None:
    bind = op.get_bind()
    _check_foreign_keys_off(bind)
    unique = {"captures": ["url", "sha256"], "documents": ["role", "url", "text_sha256"]}
    for name, columns in unique.items():
        table = captures if name == "captures" else documents
        bind.execute(sa.update(table).values(url=table.c.seen_url))
        keyed = [("url_key" if c == "url" else c) for c in columns]
        with op.batch_alter_table(name, schema=None) as batch_op:
            if name == "captures":
                batch_op.drop_index(batch_op.f("ix_captures_url"))
            batch_op.drop_constraint(f"uq_{name}_{'_'.join(keyed)}", type_="unique")
            batch_op.create_unique_constraint(batch_op.f(f"uq_{name}_{'_'.join(columns)}"), columns)
            batch_op.drop_column("url_key")
            batch_op.drop_column("seen_url")
