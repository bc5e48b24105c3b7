"""Learning spinner substitutions from accepted matches, and reading them back.

After ``match``, every link not yet harvested gives its substitutions (spun -> original, at
most four tokens a side, no digits). A pair is *confirmed*, and used by later matching, once a
thesaurus links a word inside it or it recurs in two or more matches; until then it is kept
with its count. Each pair also records which sites' pages used it: a spinner's vocabulary is
a fingerprint shared by the sites of one operator.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Table,
    Update,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from spintrace.db.models import (
    Document,
    LearnedSubstitution,
    Match,
    Site,
    SubstitutionSite,
    utcnow,
)
from spintrace.db.urls import site_domain
from spintrace.db.writes import insert_ignoring_conflicts
from spintrace.matcher.despin import MAX_PHRASE, Substitutions
from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import normalise_phrase

__all__ = [
    "MIN_PAIRS",
    "LearnedPair",
    "harvest",
    "harvest_statements",
    "iter_learned",
    "learned_version",
    "load_substitutions",
    "substitution_relation",
]

# A pair no thesaurus explains must recur in this many matches before it is trusted.
MIN_PAIRS = 2


@dataclass(frozen=True)
class LearnedPair:
    """One learned substitution as listed by ``spintrace spinners list``."""

    spun: str
    original: str
    pairs: int
    occurrences: int
    relation: str | None
    confirmed: bool
    sites: str
    first_seen: datetime
    last_seen: datetime


def substitution_relation(thesaurus: Thesaurus, spun: str, original: str) -> str | None:
    """The thesaurus relation that explains a substitution of normalised phrases: of the whole
    phrases, else of any word of one with a word of the other; ``None`` if none does."""
    relation = thesaurus.related(spun, original)
    if relation is not None:
        return relation
    for a in spun.split():
        for b in original.split():
            if a != b and (relation := thesaurus.related(a, b)) is not None:
                return relation
    return None


def _pairs_of(evidence: object) -> Counter[tuple[str, str]]:
    """The (spun, original) pairs of a link's evidence worth learning; malformed entries (a
    hand-edited or corrupted evidence column) are skipped, never fatal."""
    found: Counter[tuple[str, str]] = Counter()
    substitutions = evidence.get("substitutions") if isinstance(evidence, dict) else None
    for sub in substitutions if isinstance(substitutions, list) else ():
        if not isinstance(sub, dict):
            continue
        spun, original = sub.get("spun"), sub.get("original")
        if not isinstance(spun, str) or not isinstance(original, str):
            continue
        spun, original = normalise_phrase(spun), normalise_phrase(original)
        if not spun or not original or spun == original:
            continue
        if len(spun.split()) > MAX_PHRASE or len(original.split()) > MAX_PHRASE:
            continue
        if any(c.isdigit() for c in spun + original):
            continue
        found[(spun, original)] += 1
    return found


def harvest_statements(claim: datetime) -> tuple[Update, Select[Any]]:
    """Claiming the links not harvested yet (their ``learned_at`` set to ``claim``), and reading
    the claimed ones back (their evidence and page's site), both through the index on
    ``learned_at`` (migration 0015: not a walk over every link)."""
    claiming = update(Match).where(Match.learned_at.is_(None)).values(learned_at=claim)
    claimed = (
        select(Match.evidence, Document.site_id)
        .join(Document, Document.id == Match.page_id)
        .where(Match.learned_at == claim)
        .order_by(Match.id)
    )
    return claiming, claimed


def harvest(engine: Engine, thesaurus: Thesaurus | None = None) -> int:
    """Add the substitutions of every match not yet harvested; returns how many matches."""
    thesaurus = thesaurus or Thesaurus.load()
    claim = utcnow()
    with Session(engine) as session, session.begin():
        # Claim the unharvested matches in one statement, so that two concurrent runs never
        # count the same match twice; then read back exactly the claimed ones.
        claiming, claimed = harvest_statements(claim)
        session.execute(claiming)
        # Streamed: a run's links with their evidence were most of a worker's memory when
        # read at once (775 MB for 4,964 links, bench/memory.py's finish probe).
        rows = session.execute(claimed.execution_options(yield_per=500))
        per_pair: Counter[tuple[str, str]] = Counter()
        occurrences: Counter[tuple[str, str]] = Counter()
        sites: defaultdict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        now = claim
        harvested = 0
        for evidence, site_id in rows:
            harvested += 1
            for pair, count in _pairs_of(evidence).items():
                per_pair[pair] += 1
                occurrences[pair] += count
                sites[pair][site_id] += 1
        if not per_pair:
            # None, or verbatim copies: the matches are harvested, and there is nothing to
            # count (an executemany with no rows would run once with no values at all).
            return harvested
        # Atomic ``x = x + n`` updates (executemanys of EXECUTE_CHUNK rows): concurrent runs
        # never lose a count.
        ids = _add_new_pairs(session, thesaurus, per_pair, now)
        _add_pair_counts(session, ids, per_pair, occurrences, now)
        _add_site_counts(session, ids, sites)
        return harvested


def _add_new_pairs(
    session: Session, thesaurus: Thesaurus, pairs: Iterable[tuple[str, str]], now: datetime
) -> dict[tuple[str, str], int]:
    """Insert the pairs not stored yet (with zero counts); the row id of every pair."""
    pairs = set(pairs)
    spuns = {spun for spun, _ in pairs}
    columns = (LearnedSubstitution.id, LearnedSubstitution.spun, LearnedSubstitution.original)
    known = {(spun, original) for _, spun, original in _rows_of(session, columns, spuns)}
    new = (
        {
            "spun": spun,
            "original": original,
            "pairs": 0,
            "occurrences": 0,
            "relation": substitution_relation(thesaurus, spun, original),
            "first_seen": now,
            "last_seen": now,
        }
        for spun, original in pairs - known
    )
    # A concurrent run may insert the same pair first: then its row is the one counted.
    _execute_chunked(session, insert_ignoring_conflicts(session, LearnedSubstitution), new)
    return {
        (spun, original): row_id for row_id, spun, original in _rows_of(session, columns, spuns)
    }


# Parameter rows per executemany of learning: a run's rows are made as they are sent, not all
# held at once (a 10,000-page run of bench/scale.py learns 700,000 (pair, site) rows).
EXECUTE_CHUNK = 5_000


def _execute_chunked(session: Session, statement: Any, rows: Iterable[dict[str, Any]]) -> None:
    """``statement`` executed for every parameter row of ``rows``, :data:`EXECUTE_CHUNK` rows
    per executemany (none when there are no rows)."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == EXECUTE_CHUNK:
            session.execute(statement, chunk)
            chunk = []
    if chunk:
        session.execute(statement, chunk)


# Values per IN list: a database takes a bounded number of parameters per statement
# (PostgreSQL 65,535, SQLite 32,766); one run on a large crawl learns more spun words than that.
IN_CHUNK = 10_000


def _rows_of(session: Session, columns: Sequence[Any], spuns: set[str]) -> list[Any]:
    """The learned rows (``columns``) of the spun words ``spuns``, in chunks."""
    words = sorted(spuns)
    rows: list[Any] = []
    for start in range(0, len(words), IN_CHUNK):
        chunk = words[start : start + IN_CHUNK]
        rows.extend(session.execute(select(*columns).where(LearnedSubstitution.spun.in_(chunk))))
    return rows


def _add_pair_counts(
    session: Session,
    ids: dict[tuple[str, str], int],
    per_pair: Counter[tuple[str, str]],
    occurrences: Counter[tuple[str, str]],
    now: datetime,
) -> None:
    """``pairs`` and ``occurrences`` grow by this run's counts, in chunked executemanys."""
    table = cast(Table, LearnedSubstitution.__table__)
    _execute_chunked(
        session,
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(
            pairs=table.c.pairs + bindparam("add_pairs"),
            occurrences=table.c.occurrences + bindparam("add_occurrences"),
            last_seen=bindparam("seen"),
        ),
        (
            {
                "row_id": ids[pair],
                "add_pairs": count,
                "add_occurrences": occurrences[pair],
                "seen": now,
            }
            for pair, count in per_pair.items()
        ),
    )


def _add_site_counts(
    session: Session,
    ids: dict[tuple[str, str], int],
    sites: defaultdict[tuple[str, str], Counter[int]],
) -> None:
    """Each (pair, site) row is added if missing, then grows by this run's count."""

    def rows() -> Iterator[tuple[int, int, int]]:
        for pair, per_site in sites.items():
            for site_id, n in per_site.items():
                yield ids[pair], site_id, n

    _execute_chunked(
        session,
        insert_ignoring_conflicts(session, SubstitutionSite),
        ({"substitution_id": sub, "site_id": site, "pairs": 0} for sub, site, _ in rows()),
    )
    links = cast(Table, SubstitutionSite.__table__)
    _execute_chunked(
        session,
        update(links)
        .where(
            links.c.substitution_id == bindparam("sub_id"),
            links.c.site_id == bindparam("site"),
        )
        .values(pairs=links.c.pairs + bindparam("add")),
        ({"sub_id": sub, "site": site, "add": n} for sub, site, n in rows()),
    )


def _confirmed() -> ColumnElement[bool]:
    """The rule for a pair matching may use, as SQL (the only place it is written)."""
    return or_(LearnedSubstitution.relation.is_not(None), LearnedSubstitution.pairs >= MIN_PAIRS)


def learned_version(session: Session) -> tuple[int, int, int]:
    """How many confirmed learned pairs there are, the highest id and total of their counts:
    it changes whenever a harvest changes what :func:`load_substitutions` returns."""
    count, top, total = session.execute(
        select(
            func.count(), func.max(LearnedSubstitution.id), func.sum(LearnedSubstitution.pairs)
        ).where(_confirmed())
    ).one()
    return int(count or 0), int(top or 0), int(total or 0)


def load_substitutions(engine: Engine) -> Substitutions:
    """The confirmed learned substitutions, most frequent first, ready for matching."""
    with Session(engine) as session:
        rows = session.execute(
            select(LearnedSubstitution.spun, LearnedSubstitution.original)
            .where(_confirmed())
            .order_by(LearnedSubstitution.pairs.desc(), LearnedSubstitution.id)
        ).all()
    return Substitutions((spun, original) for spun, original in rows)


def iter_learned(
    engine: Engine, *, include_unconfirmed: bool = False, site: str | None = None
) -> Iterator[LearnedPair]:
    """Learned substitutions, most frequent first, with the sites whose pages used them."""
    with Session(engine) as session:
        query = select(LearnedSubstitution, _confirmed().label("confirmed")).order_by(
            LearnedSubstitution.pairs.desc(), LearnedSubstitution.spun
        )
        if not include_unconfirmed:
            query = query.where(_confirmed())
        if site is not None:
            query = query.where(
                LearnedSubstitution.id.in_(
                    select(SubstitutionSite.substitution_id)
                    .join(Site, Site.id == SubstitutionSite.site_id)
                    .where(Site.domain.in_({site.lower(), site_domain(site)}))
                )
            )
        rows = session.execute(query).all()
        domains: defaultdict[int, list[str]] = defaultdict(list)
        for substitution_id, domain, n in session.execute(
            select(SubstitutionSite.substitution_id, Site.domain, SubstitutionSite.pairs)
            .join(Site, Site.id == SubstitutionSite.site_id)
            .order_by(SubstitutionSite.pairs.desc(), Site.domain)
        ):
            domains[substitution_id].append(f"{domain}:{n}")
        for row, confirmed in rows:
            yield LearnedPair(
                spun=row.spun,
                original=row.original,
                pairs=row.pairs,
                occurrences=row.occurrences,
                relation=row.relation,
                confirmed=bool(confirmed),
                sites=" ".join(domains[row.id]),
                first_seen=row.first_seen,
                last_seen=row.last_seen,
            )
