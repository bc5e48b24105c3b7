"""The notebook API: the database as pandas DataFrames.

    >>> import spintrace
    >>> db = spintrace.open("sqlite:///spintrace.db")
    >>> db.matches().groupby("page_site").size()

Each frame holds the rows of the export of the same name (:data:`spintrace.reports.export.
TABLES`), so a frame and ``spintrace export TABLE`` never disagree. pandas is imported when a
frame is first asked for, never when ``spintrace`` is imported. Times are timezone-aware UTC;
site names, kinds, roles and relations are categoricals.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from spintrace.config import DB_ENV_VAR, DEFAULT_DB_URL
from spintrace.db.engine import open_engine
from spintrace.db.migrate import require_current_schema
from spintrace.reports.export import TABLES, iter_rows

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Database", "open_database"]

_TIMES = {"published", "added_at", "matched_at", "first_seen", "last_seen", "source_published",
          "page_added_at", "found_at"}  # fmt: skip
_CATEGORIES = {"site", "page_site", "source_site", "relation", "kind", "page_a_site",
               "page_b_site"}  # fmt: skip


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

    def frame(self, table: str, index: str | None = None) -> pd.DataFrame:
        """Any exportable table (``spintrace export TABLE``) as a DataFrame."""
        import pandas as pd

        columns = list(TABLES[table][0])
        frame = pd.DataFrame(list(iter_rows(self.engine, table)), columns=columns)
        for column in frame.columns:
            if column in _TIMES:
                frame[column] = pd.to_datetime(frame[column], utc=True)
            elif column in _CATEGORIES:
                frame[column] = frame[column].astype("category")
        if index:
            frame = frame.set_index(index)
        return frame

    def pages(self) -> pd.DataFrame:
        """Suspect pages, one row per stored text, with how many sources each is linked to."""
        return self.frame("pages", index="id")

    def sources(self) -> pd.DataFrame:
        """Original articles, with how many pages copy each."""
        return self.frame("sources", index="id")

    def matches(self) -> pd.DataFrame:
        """One row per (page, source) link: scores, evidence counts, and the ``lag`` from the
        source's publication to the page's arrival in the database."""
        frame = self.frame("matches")
        frame["lag"] = frame["page_added_at"] - frame["source_published"]
        return frame

    def copy_timing(self) -> pd.DataFrame:
        """One row per site of copies: how fast it copies. ``links``; ``timed`` (links whose
        source has a published date and whose page was crawled); the median and quartiles of
        ``copy_delay_hours`` (source published -> the page's first capture); how many of the
        timed copies were captured within 2 and 24 hours; and the median of
        ``published_delay_hours`` (to the page's own published date, where it has one)."""
        import pandas as pd

        links = self.frame("matches")
        delay = pd.to_numeric(links["copy_delay_hours"], errors="coerce")
        published = pd.to_numeric(links["published_delay_hours"], errors="coerce")
        grouped = pd.DataFrame(
            {"site": links["page_site"], "delay": delay, "published": published}
        ).groupby("site")
        frame = pd.DataFrame(
            {
                "links": grouped.size(),
                "timed": grouped["delay"].count(),
                "median_hours": grouped["delay"].median(),
                "q1_hours": grouped["delay"].quantile(0.25),
                "q3_hours": grouped["delay"].quantile(0.75),
                "within_2h": grouped["delay"].agg(lambda d: int(((d >= 0) & (d <= 2)).sum())),
                "within_24h": grouped["delay"].agg(lambda d: int(((d >= 0) & (d <= 24)).sum())),
                "median_published_hours": grouped["published"].median(),
            }
        )
        frame.index.name = "site"
        return frame.sort_values(["within_2h", "links"], ascending=False)

    def evidence(self) -> pd.DataFrame:
        """One row per substitution found in a link: spun -> original, where, and why."""
        return self.frame("evidence")

    def sites(self) -> pd.DataFrame:
        """One row per site: pages, sources, pages linked to a source, sources they copied."""
        return self.frame("sites", index="site")

    def indicators(self) -> pd.DataFrame:
        """Operator traces per site (tracking and ad IDs, generator, theme, favicon, links)."""
        return self.frame("indicators")

    def spin_pairs(self) -> pd.DataFrame:
        """Pages of two sites publishing the same spin of one source: both URLs, the source,
        estimated and exact Jaccard, and the substitutions they share (``evidence``)."""
        return self.frame("spin_pairs", index="id")

    def substitutions(self) -> pd.DataFrame:
        """The learned spinner substitutions, one row per site that used each."""
        return self.frame("substitutions")


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
