"""Datasette metadata: the SQLite database opens in datasette with labelled views.

:func:`datasette_metadata` makes, and :func:`write_datasette_metadata` writes, the metadata
file for ``datasette serve spintrace.db --metadata metadata.json`` (datasette 0.65; a JSON
file is also valid YAML, so the name may end in ``.yaml`` too). It holds:

- canned queries, each with a title and a description: the matches with their evidence, the
  sites with their indicators, the indicators several sites share, and a full-text search of
  the documents;
- table settings: labels for foreign keys (a match shows its page's and source's URL), facets,
  the default sort, column descriptions, the documents' full-text index (migration 0013 keeps
  ``documents_fts`` in step with every import), and the internal tables (token tables,
  signatures, index segments) hidden.

Nothing is stored in the database: the queries live in the metadata file, so an older
spintrace reading the database sees no change. Datasette escapes every value it shows, so the
hostile text of scraped pages stays text.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, text

from spintrace.errors import ReportError

__all__ = [
    "DATASETTE_QUERIES",
    "DatasetteSummary",
    "datasette_database_name",
    "datasette_metadata",
    "write_datasette_metadata",
]

# Kinds of which a site can carry hundreds of values (every outbound link, every ads.txt
# line): counted in the sites view rather than listed; the indicators table has them all.
_BULK_KINDS = ("outbound-link", "ads-txt", "app-ads-txt")
_BULK_SQL = ", ".join(f"'{kind}'" for kind in _BULK_KINDS)

_MATCHES_SQL = """
select
  matches.id as match_id,
  page.url as page_url,
  page_site.domain as page_site,
  page.title as page_title,
  source.url as source_url,
  source.title as source_title,
  round(matches.score, 3) as score,
  round(matches.containment, 3) as share_of_page_copied,
  round(matches.coverage, 3) as share_of_source_copied,
  round(matches.spin_rate, 3) as spin_rate,
  matches.basis,
  matches."order" as who_came_first,
  matches.page_time,
  matches.page_time_basis,
  matches.source_time,
  matches.source_time_basis,
  json_array_length(matches.evidence, '$.passages') as passages,
  json_array_length(matches.evidence, '$.substitutions') as substitutions,
  (
    select substr(
      page.text,
      json_extract(p.value, '$.page_start') + 1,
      json_extract(p.value, '$.page_end') - json_extract(p.value, '$.page_start')
    )
    from json_each(matches.evidence, '$.passages') as p
    order by json_extract(p.value, '$.tokens') desc
    limit 1
  ) as longest_passage,
  (
    select group_concat(
      json_extract(s.value, '$.spun') || ' -> ' || json_extract(s.value, '$.original'), '; '
    )
    from json_each(matches.evidence, '$.substitutions') as s
  ) as spun_words,
  matches.matcher,
  matches.matched_at,
  matches.evidence
from matches
join documents as page on page.id = matches.page_id
join sites as page_site on page_site.id = page.site_id
join documents as source on source.id = matches.source_id
where matches.score >= cast(coalesce(nullif(:min_score, ''), 0) as real)
  and (:site = '' or page_site.domain = :site)
order by matches.score desc, page.url, source.url
"""

_SITES_SQL = f"""
select
  sites.domain as site,
  (select count(*) from documents
    where documents.site_id = sites.id and documents.role = 'page') as pages,
  (select count(*) from documents
    where documents.site_id = sites.id and documents.role = 'source') as sources,
  (select count(*) from matches join documents as page on page.id = matches.page_id
    where page.site_id = sites.id) as copies,
  (select count(distinct matches.source_id) from matches
    join documents as page on page.id = matches.page_id
    where page.site_id = sites.id) as sources_copied,
  (select group_concat(kind || ': ' || value, '; ') from (
    select kind, value from indicators
    where indicators.site_id = sites.id and kind not in ({_BULK_SQL})
    order by kind, value)) as indicators,
  (select count(*) from indicators
    where indicators.site_id = sites.id and kind in ('ads-txt', 'app-ads-txt')) as ads_txt_records,
  (select count(*) from indicators
    where indicators.site_id = sites.id and kind = 'outbound-link') as outbound_links,
  sites.first_seen
from sites
where (:site = '' or sites.domain = :site)
order by copies desc, site
"""

_SHARED_SQL = """
select
  indicators.kind,
  indicators.value,
  count(distinct indicators.site_id) as sites,
  group_concat(sites.domain, '; ') as site_names,
  min(indicators.first_seen) as first_seen,
  max(indicators.last_seen) as last_seen
from indicators
join sites on sites.id = indicators.site_id
group by indicators.kind, indicators.value
having count(distinct indicators.site_id) >= 2
order by sites desc, indicators.kind, indicators.value
"""

_SEARCH_SQL = """
select
  documents.id as document_id,
  documents.role,
  documents.url,
  sites.domain as site,
  documents.title,
  snippet(documents_fts, 1, '[', ']', ' ... ', 16) as excerpt,
  documents.published,
  documents.added_at
from documents_fts
join documents on documents.id = documents_fts.rowid
join sites on sites.id = documents.site_id
where documents_fts match coalesce(nullif(:q, ''), '""')
order by rank
limit 200
"""

DATASETTE_QUERIES: dict[str, dict[str, str]] = {
    "matches_with_evidence": {
        "title": "Matches with their evidence",
        "description": (
            "Every link from a copying page to the source it copies, best first: the scores "
            "(share of the page that comes from the source, share of the source found in the "
            "page, share of the aligned words a spinner replaced), who came first, the longest "
            "passage as it reads in the page and the spun words (spun -> original). Optional: "
            "min_score (0..1) and site (a copying site's domain)."
        ),
        "sql": _MATCHES_SQL.strip(),
    },
    "sites_with_indicators": {
        "title": "Sites with their indicators",
        "description": (
            "Every site: its pages and sources, how many pages copy a source, and the traces of "
            "its operator (tracking and ad account IDs, theme, generator, icon, ads.txt owner); "
            "ads.txt records and outbound links are counted here, listed in the indicators "
            "table. Optional: site (a domain)."
        ),
        "sql": _SITES_SQL.strip(),
    },
    "shared_indicators": {
        "title": "Indicators shared by several sites",
        "description": (
            "The same indicator (kind and value) seen on two or more sites, most widely shared "
            "first. An account ID on few sites points at one operator; a theme or generator on "
            "many says little (docs/reports.md, network report)."
        ),
        "sql": _SHARED_SQL.strip(),
    },
    "search_documents": {
        "title": "Search documents (full text)",
        "description": (
            "Full-text search of the titles and texts of every source and page, best first. q "
            'takes SQLite FTS5 syntax: words (all must appear), "an exact phrase", OR, NOT, '
            "prefix*. The documents table's own search box takes plain words."
        ),
        "sql": _SEARCH_SQL.strip(),
    },
}

_TABLES: dict[str, dict[str, Any]] = {
    "documents": {
        "description": "Sources (the originals) and pages (the suspects), one row per text.",
        "label_column": "url",
        "fts_table": "documents_fts",
        "fts_pk": "id",
        "facets": ["role"],
        "columns": {
            "role": "source (an original) or page (a suspect)",
            "url": "canonical URL",
            "text": "the extracted text the matcher read",
            "work_id": "a source's work: the smallest id among its near-duplicate editions",
        },
    },
    "matches": {
        "description": "Links from a page to a source it copies (see the canned query for a "
        "readable view).",
        "sort_desc": "score",
        "facets": ["basis", "order"],
        "columns": {
            "score": "0..1, higher = surer",
            "containment": "share of the page that comes from the source",
            "coverage": "share of the source found in the page",
            "spin_rate": "share of the aligned words a spinner replaced",
            "evidence": "JSON: passages and substitutions, character offsets into the texts",
            "order": "who came first: source-earlier, page-earlier or unknown",
        },
    },
    "sites": {"label_column": "domain", "sort": "domain"},
    "captures": {"label_column": "url", "sort_desc": "fetched_at", "facets": ["outcome"]},
    "indicators": {
        "description": "Traces of a site's operator seen on its pages (docs/extraction.md).",
        "facets": ["kind"],
        "sort": "kind",
    },
    "substitutions": {
        "description": "Learned spinner substitutions: spun -> original.",
        "sort_desc": "pairs",
        "facets": ["relation"],
    },
    "spin_pairs": {"description": "Two pages on two sites publishing the same spin of a source."},
    "alembic_version": {"hidden": True},
    "document_tokens": {"hidden": True},
    "signatures": {"hidden": True},
    "index_segments": {"hidden": True},
    "lsh_bands": {"hidden": True},
}


@dataclass(frozen=True, slots=True)
class DatasetteSummary:
    """What :func:`write_datasette_metadata` wrote: the metadata for ``database`` (datasette's
    name for the file at ``path``), with ``queries`` and, when ``full_text``, the search."""

    database: str
    path: Path
    queries: tuple[str, ...]
    full_text: bool

    def command(self, metadata: str) -> str:
        """The command line that opens the database with the metadata file ``metadata``."""
        return f"datasette serve {shlex.quote(str(self.path))} --metadata {shlex.quote(metadata)}"


def datasette_database_name(path: str | Path) -> str:
    """The name datasette gives the database file at ``path``: its name without the suffix."""
    return Path(path).stem


def datasette_metadata(database: str, *, full_text: bool = True) -> dict[str, Any]:
    """Datasette metadata for the spintrace database that datasette calls ``database``.

    Without ``full_text`` (a database whose documents have no FTS5 index) the search query
    and the documents table's search settings are left out.
    """
    queries = {
        name: dict(query)
        for name, query in DATASETTE_QUERIES.items()
        if full_text or name != "search_documents"
    }
    tables = {name: json.loads(json.dumps(table)) for name, table in _TABLES.items()}
    if not full_text:
        del tables["documents"]["fts_table"], tables["documents"]["fts_pk"]
    return {
        "title": f"spintrace: {database}",
        "description": (
            "Sources, suspect pages, the links between them with their evidence, and the sites "
            "with the traces of their operators. Start with the queries below."
        ),
        "databases": {
            database: {
                "description": "A spintrace database (docs/data-model.md).",
                "tables": tables,
                "queries": queries,
            }
        },
    }


def _database_path(engine: Engine) -> Path:
    url = engine.url
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() != "sqlite":
        raise ReportError(f"datasette opens SQLite files; {shown} is not one")
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise ReportError(f"datasette opens SQLite files; {shown} is not a file")
    return Path(url.database).resolve()


def _has_full_text(engine: Engine) -> bool:
    with engine.connect() as connection:
        found = connection.execute(
            text("select 1 from sqlite_master where name = 'documents_fts' and type = 'table'")
        ).first()
    return found is not None


def write_datasette_metadata(engine: Engine, output: str | Path | TextIO) -> DatasetteSummary:
    """Write the datasette metadata for the SQLite database of ``engine`` to ``output`` (a path,
    or an open text stream).

    Raises :class:`ReportError` when the database is not an SQLite file (datasette opens
    nothing else) or the file cannot be written.
    """
    path = _database_path(engine)
    full_text = _has_full_text(engine)
    database = datasette_database_name(path)
    metadata = datasette_metadata(database, full_text=full_text)
    document = json.dumps(metadata, indent=2) + "\n"
    if isinstance(output, (str, Path)):
        try:
            Path(output).write_text(document, encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"cannot write {output}: {exc.strerror}") from None
    else:
        output.write(document)
    queries = tuple(metadata["databases"][database]["queries"])
    return DatasetteSummary(database, path, queries, full_text)
