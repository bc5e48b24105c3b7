"""``spintrace match`` and ``spintrace spinners``: linking pages to sources; what was learned."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict

import click

from spintrace.cli.app import App, echo_json, json_option, load_settings
from spintrace.cli.jobs import queue_match
from spintrace.cli.settings import given_setting_flags, setting_options
from spintrace.linking.match import match_pages
from spintrace.reports.export import EXPORT_FORMATS, write_rows
from spintrace.reports.rendering import plural

__all__ = ["index", "match", "spinners"]


def _match_progress(quiet: bool = False) -> Callable[[int, int], None]:
    """A page counter on an interactive stderr, updated in place (none under -q)."""
    if quiet or not sys.stderr.isatty():
        return lambda _done, _total: None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        click.echo(f"\rmatching pages: {done}/{total}", nl=False, err=True)
        if end:
            click.echo("", err=True)

    return show


@click.command()
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Judge pages in this many local processes (this one writes; same links).",
)
@click.option(
    "--queue",
    "queued",
    is_flag=True,
    help="Queue the run for `spintrace worker`s instead (PostgreSQL); same links.",
)
@click.option(
    "--recheck",
    is_flag=True,
    help="Judge every page again, also those already checked (links kept where found again).",
)
@setting_options("match_threshold", "passage_weight", "min_page_tokens", "max_candidates")
@json_option
@click.pass_obj
def match(app: App, workers: int, queued: bool, recheck: bool, as_json: bool) -> None:
    """Link every page not yet matched to every source it copies.

    A page is judged again when new sources may change its verdict, when the matcher version
    or a setting flagged here changed since it was checked, and with --recheck.
    """
    if queued:
        if workers != 1:
            raise click.UsageError("--workers and --queue do not go together: workers queue")
        if given_setting_flags():
            raise click.UsageError(
                "setting flags do not go with --queue: workers use their own settings "
                "(SPINTRACE_* variables or spintrace.toml where they run)"
            )
        queue_match(app, as_json=as_json, recheck=recheck)
        return
    settings = load_settings()
    with app.engine() as engine:
        report = match_pages(
            engine, settings, _match_progress(app.quiet), workers=workers, recheck=recheck
        )
    if as_json:
        echo_json(
            {
                **asdict(report),
                "pages_per_second": report.pages_per_second,
                "match_threshold": settings.match_threshold,
                "min_page_tokens": settings.min_page_tokens,
            }
        )
        return
    app.info(
        f"checked {plural(report.checked, 'page')} against {plural(report.sources, 'source')}: "
        f"{report.linked} linked, {report.unlinked} not linked, {report.too_short} too short "
        f"(under {settings.min_page_tokens} words); {plural(report.links, 'link')} stored, "
        f"{report.alerts} new (alerts raised)"
    )
    app.info(
        f"indexed {plural(report.indexed, 'new source')} in {report.index_seconds:.1f} s; matched "
        f"{plural(report.checked, 'page')} in {report.match_seconds:.1f} s "
        f"({report.pages_per_second:.0f} pages/s); "
        f"learned from {plural(report.learned_from, 'new link')}"
    )
    app.info(
        f"near-duplicates: {report.spin_pairs} same-spin page pairs found, "
        f"{report.works_joined} sources joined a work of editions "
        f"({report.duplicates_seconds:.1f} s)"
    )


@click.group()
def spinners() -> None:
    """Spinner substitutions learned from accepted matches."""


@spinners.command("list")
@click.option("--all", "include_all", is_flag=True, help="Also list pairs not yet confirmed.")
@click.option("--site", metavar="DOMAIN", help="Only pairs used by this site's pages.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many pairs.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", *EXPORT_FORMATS)),
    default="table",
    show_default=True,
)
@click.pass_obj
def spinners_list(
    app: App, include_all: bool, site: str | None, limit: int | None, fmt: str
) -> None:
    """List learned substitutions (spun -> original), most frequent first.

    A pair is confirmed, and used by later matching, once a thesaurus links a word inside it
    or it was seen in two or more matches; --all shows the others too.
    """
    from itertools import islice

    from spintrace.linking.substitutions import iter_learned

    with app.engine() as engine:
        rows = list(islice(iter_learned(engine, include_unconfirmed=include_all, site=site), limit))
    if fmt != "table":
        write_rows([asdict(row) for row in rows], fmt, sys.stdout)
        return
    if not rows:
        click.echo("no learned substitutions yet: run `spintrace match` on spun copies first")
        return
    width = max(len(row.spun) for row in rows)
    for row in rows:
        mark = "" if row.confirmed else "  (unconfirmed)"
        relation = row.relation or "recurring"
        click.echo(
            f"{row.spun:<{width}} -> {row.original}  [{row.pairs} matches, {relation}]"
            f"  {row.sites}{mark}"
        )


@click.group()
def index() -> None:
    """The containment index of the sources (built by `match`)."""


@index.command("rebuild")
@click.pass_obj
def index_rebuild(app: App) -> None:
    """Index every source afresh: after damage (`match` says so), or to apply new settings.

    Links, match checks and learned substitutions are kept.
    """
    from spintrace.linking.match import rebuild_index

    with app.engine() as engine:
        indexed = rebuild_index(engine, load_settings())
    click.echo(f"indexed {plural(indexed, 'source')} afresh")
