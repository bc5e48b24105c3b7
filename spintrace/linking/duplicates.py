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
from sqlalchemy.orm import Session, aliased

from spintrace.config import Settings
from spintrace.db.models import Document, LshBand, Match, SpinPair, utcnow
from spintrace.db.models import Signature as SignatureRow
from spintrace.db.writes import insert_ignoring_conflicts
from spintrace.linking.substitutions import substitution_relation
from spintrace.matcher.hashing import shingle_hashes, token_hashes
from spintrace.matcher.lsh import Banding, band_keys, jaccard
from spintrace.matcher.minhash import SCHEME, minhash_many
from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import normalise_phrase, tokenize

__all__ = [
    "PAGE_KIND",
    "SPIN_MIN_JACCARD",
    "SPIN_MIN_SHARED",
    "WORK_MIN_JACCARD",
    "find_spin_pairs",
    "group_works",
    "page_shingles",
    "sign_pages",
]

logger = logging.getLogger(__name__)

PAGE_KIND = "page-text-f1"
PAGE_BANDING = Banding(32, 4)
WORK_BANDING = Banding(16, 8)
SPIN_MIN_JACCARD = 0.5
SPIN_MIN_SHARED = 0.6
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
    if rows:
        session.execute(insert_ignoring_conflicts(session, LshBand), rows)


def sign_pages(engine: Engine, settings: Settings) -> list[int]:
    """Sign and band every page not signed yet; returns their ids."""
    signed: list[int] = []
    banded = select(LshBand.document_id).where(LshBand.kind == PAGE_KIND)
    while True:
        with Session(engine) as session, session.begin():
            rows = session.execute(
                select(Document.id, Document.text)
                .where(Document.role == "page", Document.id.not_in(banded))
                .order_by(Document.id)
                .limit(_BATCH)
            ).all()
            if not rows:
                return signed
            sets = [page_shingles(text) for _, text in rows]
            values = minhash_many(sets, PAGE_BANDING.num_perm, settings.seed)
            ids = [doc_id for doc_id, _ in rows]
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
                if len(hashes)  # an empty page has no shingles to compare
            ]
            if signatures:  # a concurrent run may have signed some: theirs stand
                session.execute(insert_ignoring_conflicts(session, SignatureRow), signatures)
            keep = [i for i, hashes in enumerate(sets) if len(hashes)]
            _store_bands(
                session, PAGE_KIND, [ids[i] for i in keep], band_keys(values[keep], PAGE_BANDING)
            )
            signed.extend(ids)


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


def _spins(evidence: object) -> dict[tuple[int, str], dict[str, Any]]:
    """A link's substitutions keyed by where they stand in the source and what they became."""
    subs = evidence.get("substitutions") if isinstance(evidence, dict) else None
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for sub in subs if isinstance(subs, list) else []:
        if isinstance(sub, dict) and isinstance(sub.get("source_start"), int):
            out[(sub["source_start"], normalise_phrase(str(sub.get("spun", ""))))] = sub
    return out


def _explained(sub: dict[str, Any], thesaurus: Thesaurus | None) -> bool:
    """Whether a thesaurus explains a substitution, by the rule the learned table uses."""
    if sub.get("relation"):
        return True
    if thesaurus is None:
        return False
    spun = normalise_phrase(str(sub.get("spun", "")))
    original = normalise_phrase(str(sub.get("original", "")))
    return substitution_relation(thesaurus, spun, original) is not None


def find_spin_pairs(
    engine: Engine, page_ids: Iterable[int], thesaurus: Thesaurus | None = None
) -> int:
    """Find the same-spin pairs of ``page_ids`` (newly signed or judged again) with any page,
    replacing the pairs stored for them; returns how many pairs were stored. A shared
    substitution counts as unexplained when ``thesaurus`` does not explain it either."""
    ids = sorted(set(page_ids))
    if not ids:
        return 0
    stored = 0
    with Session(engine) as session, session.begin():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            session.execute(
                delete(SpinPair).where(
                    or_(SpinPair.page_a_id.in_(chunk), SpinPair.page_b_id.in_(chunk))
                )
            )
        for x, y in sorted(_candidates(session, PAGE_KIND, ids)):
            stored += _judge_pair(session, x, y, thesaurus)
    return stored


def _judge_pair(session: Session, x: int, y: int, thesaurus: Thesaurus | None) -> int:
    docs = {
        doc_id: (site_id, text)
        for doc_id, site_id, text in session.execute(
            select(Document.id, Document.site_id, Document.text).where(Document.id.in_([x, y]))
        )
    }
    if len(docs) < 2 or docs[x][0] == docs[y][0]:  # one site republishing itself is no network
        return 0
    exact = jaccard(page_shingles(docs[x][1]), page_shingles(docs[y][1]))
    if exact < SPIN_MIN_JACCARD:
        return 0
    links: dict[int, dict[int, object]] = {x: {}, y: {}}
    for page_id, source_id, evidence in session.execute(
        select(Match.page_id, Match.source_id, Match.evidence).where(Match.page_id.in_([x, y]))
    ):
        links[page_id][source_id] = evidence
    estimated = _estimate(session, PAGE_KIND, x, y)
    found = 0
    for source_id in sorted(links[x].keys() & links[y].keys()):
        mine, theirs = _spins(links[x][source_id]), _spins(links[y][source_id])
        shared = mine.keys() & theirs.keys()
        either = len(mine.keys() | theirs.keys())
        if not shared or len(shared) < SPIN_MIN_SHARED * either:
            continue
        subs = [mine[key] for key in sorted(shared)]
        row = {
            "page_a_id": x,
            "page_b_id": y,
            "source_id": source_id,
            "estimated_jaccard": round(estimated, 4),
            "jaccard": round(exact, 4),
            "shared": len(shared),
            "unexplained": sum(1 for sub in subs if not _explained(sub, thesaurus)),
            "evidence": {
                "substitutions": [
                    {
                        "spun": sub.get("spun"),
                        "original": sub.get("original"),
                        "relation": sub.get("relation"),
                        "explained": _explained(sub, thesaurus),
                    }
                    for sub in subs
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
    banded = select(LshBand.document_id).where(LshBand.kind == content_kind)
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
                    SignatureRow.document_id.not_in(banded),
                    SignatureRow.document_id > last,
                )
                .order_by(SignatureRow.document_id)
                .limit(_BATCH)
            ).all()
            if not rows:
                break
            ids = [doc_id for doc_id, _ in rows]
            new.extend(ids)
            last = ids[-1]
            values = np.stack([np.frombuffer(data, dtype="<u4") for _, data in rows])
            if values.shape[1] >= WORK_BANDING.num_perm:
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
