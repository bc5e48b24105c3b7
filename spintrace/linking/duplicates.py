"""Near-duplicates by MinHash LSH, in the database: the same spin on several sites, and the same
story among sources.

Both searches keep their band keys in ``lsh_bands`` (an index on ``(kind, band, key)``), so a
candidate pair is a join, on SQLite and PostgreSQL alike, and each run looks up only the
documents new to it:

- **Pages** are signed on their text *as published* (word 3-shingles of the normalised words, no
  lemmas, no de-spinning: two farms of one operator publish the same synonym choices), banded
  32 x 4 (candidates from a Jaccard of about 0.42). A candidate pair of pages on two sites is a
  **same-spin pair** when their exact Jaccard is at least :data:`SPIN_MIN_JACCARD` and, for a
  source both copy, they made the same substitutions against it: at least
  :data:`SPIN_MIN_SHARED` of the substitutions either made, and at least one. Two verbatim
  copies share text but no spin; two independent spins of one story share few choices.
- **Sources** are banded from their stored content signatures, 16 x 8 (from about 0.71); a pair
  whose estimated Jaccard reaches :data:`WORK_MIN_JACCARD` is two editions of one **work**
  (syndicated copies of one wire story). ``documents.work_id`` is the smallest id of a work's
  editions, kept for every edition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, delete, func, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, aliased

from spintrace.config import Settings
from spintrace.db.models import Document, LshBand, Match, SpinPair, utcnow
from spintrace.db.models import Signature as SignatureRow
from spintrace.db.writes import insert_ignoring_conflicts, insert_rows, is_postgresql
from spintrace.linking.substitutions import substitution_relation
from spintrace.matcher.hashing import shingle_hashes, token_hashes
from spintrace.matcher.lsh import Banding, band_keys, jaccard
from spintrace.matcher.minhash import SCHEME, minhash_many
from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import normalise_phrase, tokenize

__all__ = [
    "PAGE_KIND",
    "SPIN_MIN_JACCARD",
    "SPIN_MIN_RATE",
    "SPIN_MIN_SHARED",
    "SPIN_MIN_SUBSTITUTIONS",
    "WORK_MIN_JACCARD",
    "find_spin_pairs",
    "group_works",
    "page_shingles",
    "sign_pages",
]

logger = logging.getLogger(__name__)

PAGE_KIND = "page-text-f1"
PAGE_BANDING = Banding(32, 4)
# Band rows inserted in one go past which the table's statistics are refreshed (PostgreSQL).
ANALYZE_AFTER = 5_000
WORK_BANDING = Banding(16, 8)
SPIN_MIN_JACCARD = 0.5
SPIN_MIN_SHARED = 0.6
SPIN_MIN_SUBSTITUTIONS = 5
SPIN_MIN_RATE = 0.03  # of the aligned page words substituted, on both pages
WORK_MIN_JACCARD = 0.7
_PAGE_SALT = np.uint32(0x5EED_5A3E)
_BATCH = 2000

U32 = npt.NDArray[np.uint32]


def page_shingles(text: str) -> U32:
    """Distinct hashes of the word 3-shingles of a text as published (normalised words)."""
    words = [t.norm for t in tokenize(text)]
    return shingle_hashes(token_hashes(words), 3, _PAGE_SALT)


def _store_bands(session: Session, kind: str, ids: Sequence[int], keys: npt.NDArray[Any]) -> None:
    """Insert band keys; rows another run inserted meanwhile are left as they are."""
    rows = [
        {"kind": kind, "document_id": doc_id, "band": band, "key": int(key)}
        for doc_id, row in zip(ids, keys, strict=True)
        for band, key in enumerate(row.tolist())
    ]
    insert_rows(session, LshBand, rows, ignore_conflicts=True)
    if len(rows) >= ANALYZE_AFTER and is_postgresql(session):
        # The candidate searches join the table with itself in this same transaction. Planned
        # on statistics of an emptier table (autovacuum sees committed rows only, later), each
        # join scanned the whole table: 100k sources took hours (bench/scale.py). ANALYZE
        # counts this transaction's own new rows.
        session.execute(sql_text("ANALYZE lsh_bands"))


def sign_pages(
    engine: Engine, settings: Settings, thesaurus: Thesaurus | None = None
) -> tuple[list[int], int]:
    """Sign and band every page not signed yet and find the same-spin pairs of each batch in
    the same transaction (a run that fails there leaves the batch unsigned, to be searched
    again); returns the ids signed and the pairs stored. A page without shingles gets its
    signature (all ``EMPTY``), so it is signed once, and no bands."""
    signed: list[int] = []
    pairs = 0
    last = 0
    while True:
        with Session(engine) as session, session.begin():
            rows = session.execute(
                select(Document.id, Document.text)
                .where(Document.role == "page", Document.id > last, ~_has_signature(PAGE_KIND))
                .order_by(Document.id)
                .limit(_BATCH)
            ).all()
            if not rows:
                return signed, pairs
            ids = [doc_id for doc_id, _ in rows]
            last = ids[-1]
            sets = [page_shingles(text) for _, text in rows]
            values = minhash_many(sets, PAGE_BANDING.num_perm, settings.seed)
            signatures = [
                {
                    "document_id": doc_id,
                    "kind": PAGE_KIND,
                    "num_perm": PAGE_BANDING.num_perm,
                    "seed": settings.seed,
                    "scheme": SCHEME,
                    "set_size": len(hashes),
                    "hashvalues": row.astype("<u4").tobytes(),
                }
                for doc_id, hashes, row in zip(ids, sets, values, strict=True)
            ]
            # A concurrent run may have signed some: theirs stand.
            insert_rows(session, SignatureRow, signatures, ignore_conflicts=True)
            keep = [i for i, hashes in enumerate(sets) if len(hashes)]
            _store_bands(
                session, PAGE_KIND, [ids[i] for i in keep], band_keys(values[keep], PAGE_BANDING)
            )
            pairs += _search(session, ids, thesaurus)
            signed.extend(ids)


def _has_signature(kind: str) -> Any:
    """``EXISTS`` a signature of ``kind`` for the document (an anti-join where negated: a
    ``NOT IN`` over every signed document grows quadratically on PostgreSQL)."""
    return (
        select(SignatureRow.id)
        .where(SignatureRow.document_id == Document.id, SignatureRow.kind == kind)
        .exists()
    )


def _candidates(session: Session, kind: str, ids: Sequence[int]) -> set[tuple[int, int]]:
    """Pairs of documents sharing a band key of ``kind``, one of them in ``ids``."""
    a, b = aliased(LshBand), aliased(LshBand)
    pairs: set[tuple[int, int]] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        rows = session.execute(
            select(a.document_id, b.document_id)
            .join(b, (b.kind == a.kind) & (b.band == a.band) & (b.key == a.key))
            .where(a.kind == kind, a.document_id.in_(chunk), b.document_id != a.document_id)
            .distinct()
        ).all()
        pairs.update((min(x, y), max(x, y)) for x, y in rows)
    return pairs


def _page_candidates(session: Session, ids: Sequence[int]) -> set[tuple[int, int, int]]:
    """``(page, page, work)`` for pages sharing a band key, one of them in ``ids``, on two
    sites, both linked to a source of one work: filtered in the query, so pages that copy
    nothing (stubs, paywall notices, identical boilerplate) never become pairs to check."""
    a, b = aliased(LshBand), aliased(LshBand)
    da, db = aliased(Document), aliased(Document)
    ma, mb = aliased(Match), aliased(Match)
    sa, sb = aliased(Document), aliased(Document)
    work_a = func.coalesce(sa.work_id, sa.id)
    found: set[tuple[int, int, int]] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        rows = session.execute(
            select(a.document_id, b.document_id, work_a)
            .join(b, (b.kind == a.kind) & (b.band == a.band) & (b.key == a.key))
            .join(da, da.id == a.document_id)
            .join(db, db.id == b.document_id)
            .join(ma, ma.page_id == a.document_id)
            .join(mb, mb.page_id == b.document_id)
            .join(sa, sa.id == ma.source_id)
            .join(sb, sb.id == mb.source_id)
            .where(
                a.kind == PAGE_KIND,
                a.document_id.in_(chunk),
                b.document_id != a.document_id,
                da.site_id != db.site_id,
                work_a == func.coalesce(sb.work_id, sb.id),
            )
            .distinct()
        ).all()
        found.update((min(x, y), max(x, y), work) for x, y, work in rows)
    return found


def _estimate(session: Session, kind: str, x: int, y: int) -> float:
    values = dict(
        session.execute(
            select(SignatureRow.document_id, SignatureRow.hashvalues).where(
                SignatureRow.kind == kind, SignatureRow.document_id.in_([x, y])
            )
        ).all()
    )
    if len(values) < 2:
        return 0.0
    left, right = (np.frombuffer(values[i], dtype="<u4") for i in (x, y))
    n = min(len(left), len(right))
    return float((left[:n] == right[:n]).mean())


def _spins(evidence: object) -> dict[tuple[str, str, int], dict[str, Any]]:
    """A link's spin-like substitutions (both sides words, no digits: not an edit that
    inserts, deletes or changes a figure), keyed by what was replaced with what and which
    occurrence of it, so two editions of a story compare too."""
    subs = evidence.get("substitutions") if isinstance(evidence, dict) else None
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    seen: dict[tuple[str, str], int] = {}
    for sub in subs if isinstance(subs, list) else []:
        if not isinstance(sub, dict):
            continue
        spun = normalise_phrase(str(sub.get("spun", "")))
        original = normalise_phrase(str(sub.get("original", "")))
        if not spun or not original or any(c.isdigit() for c in spun + original):
            continue
        n = seen.get((spun, original), 0)
        seen[spun, original] = n + 1
        out[(spun, original, n)] = sub
    return out


def _explained(sub: dict[str, Any], thesaurus: Thesaurus | None) -> bool:
    """Whether a thesaurus explains a substitution, by the rule the learned table uses (a
    substitution only learned from earlier links is the spinner's own: not explained)."""
    if sub.get("relation") not in (None, "learned"):
        return True
    if thesaurus is None:
        return False
    spun = normalise_phrase(str(sub.get("spun", "")))
    original = normalise_phrase(str(sub.get("original", "")))
    return substitution_relation(thesaurus, spun, original) is not None


def find_spin_pairs(
    engine: Engine, page_ids: Iterable[int], thesaurus: Thesaurus | None = None
) -> int:
    """Find the same-spin pairs of ``page_ids`` (judged again this run) with any page,
    replacing the pairs stored for them; returns how many pairs were stored. A shared
    substitution counts as unexplained when ``thesaurus`` does not explain it either."""
    ids = sorted(set(page_ids))
    if not ids:
        return 0
    with Session(engine) as session, session.begin():
        return _search(session, ids, thesaurus)


def _search(session: Session, ids: Sequence[int], thesaurus: Thesaurus | None) -> int:
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(
            delete(SpinPair).where(
                or_(SpinPair.page_a_id.in_(chunk), SpinPair.page_b_id.in_(chunk))
            )
        )
    by_pair: dict[tuple[int, int], set[int]] = {}
    for x, y, work in _page_candidates(session, ids):
        by_pair.setdefault((x, y), set()).add(work)
    stored = 0
    for (x, y), works in sorted(by_pair.items()):
        stored += _judge_pair(session, x, y, works, thesaurus)
    return stored


def _judge_pair(
    session: Session, x: int, y: int, works: set[int], thesaurus: Thesaurus | None
) -> int:
    """Store the pair (one row per work both copy in the same spin); how many were stored."""
    texts = dict(
        session.execute(select(Document.id, Document.text).where(Document.id.in_([x, y]))).all()
    )
    if len(texts) < 2:
        return 0
    exact = jaccard(page_shingles(texts[x]), page_shingles(texts[y]))
    if exact < SPIN_MIN_JACCARD:
        return 0
    links: dict[int, dict[int, tuple[int, object, float]]] = {x: {}, y: {}}
    source = aliased(Document)
    for page_id, source_id, work, evidence, spin_rate in session.execute(
        select(
            Match.page_id,
            Match.source_id,
            func.coalesce(source.work_id, source.id),
            Match.evidence,
            Match.spin_rate,
        )
        .join(source, source.id == Match.source_id)
        .where(Match.page_id.in_([x, y]))
    ):
        if work in works:
            links[page_id][work] = (source_id, evidence, spin_rate)
    estimated = _estimate(session, PAGE_KIND, x, y)
    found = 0
    for work in sorted(links[x].keys() & links[y].keys()):
        source_id, mine_evidence, rate_x = links[x][work]
        _, theirs_evidence, rate_y = links[y][work]
        if min(rate_x, rate_y) < SPIN_MIN_RATE:  # verbatim copies (of one edit) are no spin
            continue
        mine, theirs = _spins(mine_evidence), _spins(theirs_evidence)
        shared = mine.keys() & theirs.keys()
        either = len(mine.keys() | theirs.keys())
        if len(shared) < SPIN_MIN_SUBSTITUTIONS or len(shared) < SPIN_MIN_SHARED * either:
            continue
        subs = [mine[key] for key in sorted(shared)]
        rare = [not _explained(sub, thesaurus) for sub in subs]
        row = {
            "page_a_id": x,
            "page_b_id": y,
            "source_id": source_id,
            "estimated_jaccard": round(estimated, 4),
            "jaccard": round(exact, 4),
            "shared": len(shared),
            "unexplained": sum(rare),
            "evidence": {
                "substitutions": [
                    {
                        "spun": sub.get("spun"),
                        "original": sub.get("original"),
                        "relation": sub.get("relation"),
                        "explained": not unexplained,
                    }
                    for sub, unexplained in zip(subs, rare, strict=True)
                ],
                "made_by_either": either,
            },
            "found_at": utcnow(),
        }
        session.execute(insert_ignoring_conflicts(session, SpinPair), [row])
        found += 1
    return found


def group_works(engine: Engine, content_kind: str) -> int:
    """Band the content signatures of every source not banded yet and join near-duplicate
    sources into works (``documents.work_id``); returns how many sources changed work."""
    joined = 0
    banded = (
        select(LshBand.document_id)
        .where(LshBand.document_id == SignatureRow.document_id, LshBand.kind == content_kind)
        .exists()
    )
    with Session(engine) as session, session.begin():
        new: list[int] = []
        last = 0
        while True:
            rows = session.execute(
                select(SignatureRow.document_id, SignatureRow.hashvalues)
                .join(Document, Document.id == SignatureRow.document_id)
                .where(
                    Document.role == "source",
                    SignatureRow.kind == content_kind,
                    SignatureRow.document_id > last,
                    ~banded,
                )
                .order_by(SignatureRow.document_id)
                .limit(_BATCH)
            ).all()
            if not rows:
                break
            last = rows[-1][0]
            # Signatures made with fewer permutations (a num_perm setting) cannot be banded.
            usable = [(i, data) for i, data in rows if len(data) >= 4 * WORK_BANDING.num_perm]
            if len(usable) < len(rows):
                logger.info(
                    "%d sources signed with under %d permutations are not grouped into works",
                    len(rows) - len(usable),
                    WORK_BANDING.num_perm,
                )
            if not usable:
                continue
            ids = [doc_id for doc_id, _ in usable]
            new.extend(ids)
            cut = 4 * WORK_BANDING.num_perm
            values = np.stack([np.frombuffer(data[:cut], dtype="<u4") for _, data in usable])
            _store_bands(session, content_kind, ids, band_keys(values, WORK_BANDING))
            session.flush()
        for x, y in sorted(_candidates(session, content_kind, new)):
            if _estimate(session, content_kind, x, y) >= WORK_MIN_JACCARD:
                joined += _join(session, x, y)
    return joined


def _join(session: Session, x: int, y: int) -> int:
    """Put sources ``x`` and ``y`` in one work (the smaller work id wins); how many moved."""
    works = dict(
        session.execute(select(Document.id, Document.work_id).where(Document.id.in_([x, y]))).all()
    )
    wx, wy = works.get(x) or x, works.get(y) or y
    if wx == wy and works.get(x) and works.get(y):
        return 0
    target = min(wx, wy)
    members = or_(Document.id.in_([x, y]), Document.work_id.in_([wx, wy]))
    moved = session.scalar(
        select(func.count()).where(
            members, or_(Document.work_id.is_(None), Document.work_id != target)
        )
    )
    session.execute(update(Document).where(members).values(work_id=target))
    return int(moved or 0)
