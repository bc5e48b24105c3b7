"""``spintrace crawl`` and ``spintrace captures``: collecting pages (docs/crawling.md).

Added to the ``spintrace`` group by :mod:`spintrace.cli`.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from spintrace.cli.app import MAX_LISTED_ERRORS, App, echo_json, json_option, load_settings
from spintrace.cli.jobs import echo_queued_crawls, queue_processing
from spintrace.records import Role
from spintrace.reports.rendering import plural

__all__ = ["captures", "crawl", "crawl_settings"]


def crawl_settings(overrides: tuple[str, ...], settings_file: Path | None) -> dict[str, Any]:
    from spintrace.crawler.settings import load_settings_file, parse_overrides

    values: dict[str, Any] = {}
    if settings_file is not None:
        values.update(load_settings_file(settings_file))
    values.update(parse_overrides(overrides))
    return values


def _echo_processing(app: App, report: Any) -> None:
    app.info(
        f"extracted: {plural(report.documents_new, 'new document')}, "
        f"{report.documents_unchanged} unchanged, {plural(report.non_articles, 'non-article')}, "
        f"{report.not_html} not HTML, {plural(len(report.errors), 'error')}"
    )
    for error in report.errors[:MAX_LISTED_ERRORS]:
        click.echo(f"  error {error}", err=True)


def _processing_json(report: Any) -> dict[str, Any]:
    return {**asdict(report), "processed": report.processed}


@click.command()
@click.argument("urls", nargs=-1)
@click.option(
    "--as",
    "role",
    type=click.Choice(("page", "source")),
    default="page",
    show_default=True,
    help="Store what is found as suspect pages or as sources.",
)
@click.option(
    "--list",
    "list_mode",
    is_flag=True,
    help="Fetch exactly the given URLs; discover and follow nothing.",
)
@click.option(
    "--from-file",
    "url_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also crawl the URLs in this file (one per line, # comments; '-' is stdin).",
)
@click.option(
    "--max-pages",
    type=click.IntRange(min=0),
    default=0,
    help="Stop after storing this many pages (0: no limit).",
)
@click.option(
    "--same-domain/--follow",
    default=True,
    show_default=True,
    help="Stay on the start URLs' domains, or follow links to other sites.",
)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    help="Link hops from a start URL [5]; 0 fetches the start pages only "
    "(Scrapy's own -s DEPTH_LIMIT=0 means unlimited).",
)
@click.option(
    "--no-extract",
    is_flag=True,
    help="Only store captures; extract later with `spintrace captures process`.",
)
@click.option(
    "--jobdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the crawl's state here; the same command resumes an interrupted crawl.",
)
@click.option(
    "--queue",
    "queued",
    is_flag=True,
    help="Queue one crawl job per site for `spintrace worker`s instead (PostgreSQL).",
)
@click.option(
    "-s",
    "--set",
    "overrides",
    multiple=True,
    metavar="NAME=VALUE",
    help="A Scrapy setting (repeatable), e.g. -s DOWNLOAD_DELAY=2.",
)
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scrapy settings from a .toml, .json or .py file (before -s).",
)
@json_option
@click.pass_obj
def crawl(
    app: App,
    urls: tuple[str, ...],
    role: Role,
    list_mode: bool,
    url_file: Path | None,
    max_pages: int,
    same_domain: bool,
    depth: int | None,
    no_extract: bool,
    jobdir: Path | None,
    queued: bool,
    overrides: tuple[str, ...],
    settings_file: Path | None,
    as_json: bool,
) -> None:
    """Crawl sites (or, with --list, fetch URLs), store captures, extract documents.

    From each site URL, articles are found through robots.txt sitemaps, sitemap indexes,
    RSS/Atom feeds and links between pages. Polite by default (robots.txt, AutoThrottle, two
    requests per site at a time); see docs/crawling.md.
    """
    from spintrace.crawler import CrawlError, CrawlOptions, run_crawl
    from spintrace.db.locks import HostBusy, host_lock
    from spintrace.db.urls import site_domain
    from spintrace.ingest.captures import process_captures

    all_urls = list(urls)
    if url_file is not None:
        try:
            if str(url_file) == "-":
                lines = sys.stdin.read().splitlines()
            else:
                lines = url_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeError) as exc:
            raise CrawlError(f"cannot read {url_file}: {exc}") from None
        all_urls += [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    if not all_urls:
        raise CrawlError("no URL to crawl: give URLs or --from-file FILE")
    options = CrawlOptions(
        urls=tuple(all_urls),
        db_url=app.db_url,
        role=role,
        mode="list" if list_mode else "site",
        max_pages=max_pages,
        depth=depth,
        follow=not same_domain,
        jobdir=jobdir,
        settings=crawl_settings(overrides, settings_file),
        # Between -q's silence and -v's Scrapy log: a progress line on stderr.
        progress=not app.quiet and logging.getLogger().getEffectiveLevel() > logging.INFO,
    )
    if queued:
        _queue_crawl(app, options, extract=not no_extract, as_json=as_json)
        return
    settings = load_settings()
    with app.engine() as engine:
        try:
            # One crawl per site anywhere: the lock the workers' crawls take (PostgreSQL). A
            # list of URLs (--list, any number of hosts) fetches each once: not locked.
            hosts = [] if list_mode else [site_domain(url) for url in options.urls]
            with host_lock(engine, hosts):
                report = run_crawl(options)
        except HostBusy as busy:
            raise CrawlError(
                f"{busy.host} is being crawled by another process (a worker, a watch round or "
                "another command); try again when that crawl ends"
            ) from None
        interrupted = report.finish_reason == "shutdown"
        if not as_json:
            _echo_crawl(app, report)
        extracted = None
        if not no_extract and not interrupted:
            extracted = process_captures(engine, settings)
        if as_json:
            echo_json(
                {
                    "crawl": {**asdict(report), "pages": report.pages},
                    "extracted": None if extracted is None else _processing_json(extracted),
                }
            )
        elif extracted is not None:
            _echo_processing(app, extracted)
        if interrupted:
            again = "run the same command to resume; " if jobdir is not None else ""
            click.echo(
                f"interrupted: {again}extract what was stored with `spintrace captures process`",
                err=as_json,
            )
            sys.exit(130)


def _echo_crawl(app: App, report: Any) -> None:
    resumed = f", {report.replayed} already stored (resumed job)" if report.resumed else ""
    app.info(
        f"crawled {plural(report.pages, 'page')} in {report.seconds:.1f} s: "
        f"{plural(report.new, 'new capture')}, {report.unchanged} unchanged{resumed}, "
        f"{report.skipped} skipped ({report.finish_reason})"
    )
    if app.quiet:
        return
    for reason in report.skip_reasons[:MAX_LISTED_ERRORS]:
        click.echo(f"  skipped {reason}", err=True)
    if report.skipped > MAX_LISTED_ERRORS:
        click.echo(f"  ... and {report.skipped - MAX_LISTED_ERRORS} more", err=True)


def _queue_crawl(app: App, options: Any, *, extract: bool, as_json: bool) -> None:
    from spintrace.crawler import check_start_url
    from spintrace.jobs import enqueue_crawl

    if options.jobdir is not None:
        raise click.UsageError("--jobdir and --queue do not go together: queued crawls resume")
    urls = [check_start_url(url) for url in options.urls]
    with app.queue_engine("crawl --queue") as engine:
        queued = enqueue_crawl(
            engine,
            urls,
            role=options.role,
            mode=options.mode,
            max_pages=options.max_pages,
            depth=options.depth,
            follow=options.follow,
            settings=options.settings,
            extract=extract,
        )
    echo_queued_crawls(queued, as_json=as_json)


@click.group()
def captures() -> None:
    """Stored captures: raw fetched pages kept as evidence."""


@captures.command("process")
@click.option(
    "--queue",
    "queued",
    is_flag=True,
    help="Queue the work in batches for `spintrace worker`s instead (PostgreSQL).",
)
@json_option
@click.pass_obj
def captures_process(app: App, queued: bool, as_json: bool) -> None:
    """Extract documents from captures not processed yet (crawl does this itself)."""
    from spintrace.ingest.captures import process_captures

    if queued:
        queue_processing(app, as_json=as_json)
        return
    with app.engine() as engine:
        report = process_captures(engine, load_settings())
    if as_json:
        echo_json(_processing_json(report))
    else:
        _echo_processing(app, report)


@captures.command("export-warc")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The WARC file to write (gzipped records; name it .warc.gz); '-' is stdout.",
)
@click.option(
    "--role", type=click.Choice(("page", "source")), help="Only captures crawled with this role."
)
@click.pass_obj
def captures_export_warc(app: App, output: Path, role: Role | None) -> None:
    """Write the stored captures as a standard WARC file (response records)."""
    from spintrace.reports.warc import write_warc

    with app.engine() as engine:
        if str(output) == "-":
            count = write_warc(engine, sys.stdout.buffer, role)
            app.info(f"wrote {plural(count, 'capture')} to stdout", err=True)
            return
        app.refuse_database_file(output)
        try:
            handle = output.open("wb")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
        try:
            with handle:
                count = write_warc(engine, handle, role)
        except OSError as exc:  # disk full, device gone: name the file
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    app.info(f"wrote {plural(count, 'capture')} to {output}")
