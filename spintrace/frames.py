"""The notebook API: the database as pandas DataFrames.

    >>> import spintrace
    >>> db = spintrace.open("sqlite:///spintrace.db")
    >>> db.matches().groupby("page_site").size()

pandas is imported when a frame is first asked for, never when ``spintrace`` is imported.
Times are timezone-aware UTC (``datetime64[ns, UTC]``); site names, roles and relations are
categoricals.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import aliased

from spintrace.config import DB_ENV_VAR, DEFAULT_DB_URL
from spintrace.db.engine import open_engine
from spintrace.db.migrate import require_current_schema
from spintrace.db.models import (
    Document,
    LearnedSubstitution,
    Match,
    Site,
    SiteIndicator,
    SubstitutionSite,
)
from spintrace.reports.export import matches_query

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Database", "open_database"]

_TIMES = ("published", "added_at", "matched_at", "first_seen", "last_seen", "source_published")
_CATEGORIES = ("site", "page_site", "source_site", "relation", "role", "kind")


class Database:
    """A spintrace database, read as DataFrames. Use :func:`spintrace.open` to get one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<spintrace.Database {self.engine.url.render_as_string(hide_password=True)}>"

    def _frame(self, query: Any, index: str | None = None) -> pd.DataFrame:
        import pandas as pd

        with self.engine.connect() as connection:
            frame = pd.read_sql(query, connection)
        for column in frame.columns:
            if column in _TIMES:
                frame[column] = pd.to_datetime(frame[column], utc=True)
            elif column in _CATEGORIES:
                frame[column] = frame[column].astype("category")
        if index:
            frame = frame.set_index(index)
        return frame

    def _documents(self, role: str) -> pd.DataFrame:
        linked = (
            select(func.count())
            .where((Match.page_id if role == "page" else Match.source_id) == Document.id)
            .scalar_subquery()
        )
        return self._frame(
            select(
                Document.id,
                Document.url,
                Site.domain.label("site"),
                Document.title,
                Document.author,
                Document.published,
                Document.language,
                Document.canonical_url,
                Document.added_at,
                Document.text_sha256,
                Document.text,
                linked.label("links"),
            )
            .join(Site, Site.id == Document.site_id)
            .where(Document.role == role)
            .order_by(Document.id),
            index="id",
        )

    def pages(self) -> pd.DataFrame:
        """Suspect pages, one row per stored text, with how many sources each is linked to."""
        return self._documents("page")

    def sources(self) -> pd.DataFrame:
        """Original articles, with how many pages copy each."""
        return self._documents("source")

    def matches(self) -> pd.DataFrame:
        """One row per (page, source) link, with scores and evidence counts."""
        import pandas as pd

        frame = self._frame(matches_query(), index="id")
        evidence = frame.pop("evidence")
        frame["passages"] = evidence.map(lambda e: len(e.get("passages", ())))
        frame["substitutions"] = evidence.map(lambda e: len(e.get("substitutions", ())))
        frame["longest_exact"] = evidence.map(lambda e: int(e.get("longest_exact", 0)))
        frame["page_added_at"] = pd.to_datetime(frame["page_added_at"], utc=True)
        frame["lag"] = frame["page_added_at"] - frame["source_published"]
        return frame

    def evidence(self) -> pd.DataFrame:
        """One row per substitution found in a link: spun -> original, where, and why."""
        import pandas as pd

        rows = []
        with self.engine.connect() as connection:
            for row in connection.execute(matches_query()):
                for sub in (row.evidence or {}).get("substitutions", ()):
                    rows.append(
                        {
                            "match_id": row.id,
                            "page_url": row.page_url,
                            "source_url": row.source_url,
                            "page_site": row.page_site,
                            "spun": sub.get("spun", ""),
                            "original": sub.get("original", ""),
                            "relation": sub.get("relation"),
                            "page_start": sub.get("page_start"),
                            "source_start": sub.get("source_start"),
                        }
                    )
        columns = ["match_id", "page_url", "source_url", "page_site", "spun", "original",
                   "relation", "page_start", "source_start"]  # fmt: skip
        frame = pd.DataFrame(rows, columns=columns)
        for column in ("page_site", "relation"):
            frame[column] = frame[column].astype("category")
        return frame

    def sites(self) -> pd.DataFrame:
        """One row per site: pages, sources, pages linked to a source, sources they copied."""
        page, source = aliased(Document), aliased(Document)

        def count(role: str) -> Any:
            return (
                select(func.count())
                .where(Document.site_id == Site.id, Document.role == role)
                .scalar_subquery()
            )

        copied = (
            select(func.count(func.distinct(Match.page_id)))
            .join(page, page.id == Match.page_id)
            .where(page.site_id == Site.id)
            .scalar_subquery()
        )
        sources_copied = (
            select(func.count(func.distinct(Match.source_id)))
            .join(page, page.id == Match.page_id)
            .where(page.site_id == Site.id)
            .scalar_subquery()
        )
        copied_from = (
            select(func.count(func.distinct(Match.page_id)))
            .join(source, source.id == Match.source_id)
            .where(source.site_id == Site.id)
            .scalar_subquery()
        )
        return self._frame(
            select(
                Site.domain.label("site"),
                Site.first_seen,
                count("page").label("pages"),
                count("source").label("sources"),
                copied.label("copied_pages"),
                sources_copied.label("sources_copied"),
                copied_from.label("copied_from_here"),
            ).order_by(Site.domain),
            index="site",
        )

    def indicators(self) -> pd.DataFrame:
        """Operator traces per site (tracking and ad IDs, generator, theme, favicon, links)."""
        return self._frame(
            select(
                Site.domain.label("site"),
                SiteIndicator.kind,
                SiteIndicator.value,
                SiteIndicator.captures,
                SiteIndicator.evidence,
                SiteIndicator.first_seen,
                SiteIndicator.last_seen,
            )
            .join(Site, Site.id == SiteIndicator.site_id)
            .order_by(Site.domain, SiteIndicator.kind, SiteIndicator.value)
        )

    def substitutions(self) -> pd.DataFrame:
        """The learned spinner substitutions, with the sites whose pages used them."""
        return self._frame(
            select(
                LearnedSubstitution.spun,
                LearnedSubstitution.original,
                LearnedSubstitution.pairs,
                LearnedSubstitution.occurrences,
                LearnedSubstitution.relation,
                Site.domain.label("site"),
                SubstitutionSite.pairs.label("site_pairs"),
                LearnedSubstitution.first_seen,
                LearnedSubstitution.last_seen,
            )
            .join(SubstitutionSite, SubstitutionSite.substitution_id == LearnedSubstitution.id)
            .join(Site, Site.id == SubstitutionSite.site_id)
            .order_by(LearnedSubstitution.pairs.desc(), LearnedSubstitution.spun, Site.domain)
        )


def open_database(url: str | None = None) -> Database:
    """Open a migrated spintrace database (``url``, else ``$SPINTRACE_DB``, else the default)."""
    url = url or os.environ.get(DB_ENV_VAR) or DEFAULT_DB_URL
    engine = open_engine(url)
    try:
        require_current_schema(engine)
    except Exception:
        engine.dispose()
        raise
    return Database(engine)
