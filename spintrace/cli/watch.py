"""``spintrace watch FILE``: monitoring rounds over a watch list (docs/watch.md)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from spintrace.cli.app import App, load_settings
from spintrace.cli.crawl import crawl_settings
from spintrace.reports.rendering import plural

__all__ = ["watch"]

# The longest sleep between two looks at the clock of a continuous watch.
MAX_SLEEP_SECONDS = 60.0


@click.command()
@click.argument("watch_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="Run one round and stop (for cron).")
@click.option("--all", "force", is_flag=True, help="Check every entry now, due or not.")
@click.option(
    "-s",
    "--set",
    "overrides",
    multiple=True,
    metavar="NAME=VALUE",
    help="A Scrapy setting for the page fetches (repeatable), e.g. -s DOWNLOAD_DELAY=2.",
)
@click.option(
    "--queue",
    "queued",
    is_flag=True,
    help="PostgreSQL: store the watch list in the database and queue its due sites for "
    "`spintrace worker`s, which keep watching it (each checks the list every minute).",
)
@click.option("--name", help="The stored watch list's name (with --queue; default: FILE's path).")
@click.pass_obj
def watch(
    app: App,
    watch_file: Path,
    once: bool,
    force: bool,
    overrides: tuple[str, ...],
    queued: bool,
    name: str | None,
) -> None:
    """Watch the publishers and farms of FILE: each round fetches what changed, links new
    copies and sends an alert for each pair linked for the first time.

    Without --once it keeps going, each site at its own interval; Ctrl-C stops it between
    rounds' steps.
    """
    from spintrace.watch import load, run_round
    from spintrace.watch.rounds import next_due

    watch_list = load(watch_file)
    settings = load_settings()
    scrapy = crawl_settings(overrides, None)
    if queued:
        from spintrace.jobs.enqueue import enqueue_watch

        if once or force:
            raise click.UsageError("--queue does not go with --once or --all: workers keep going")
        list_name = name or str(watch_file.resolve())
        with app.queue_engine("watch --queue") as engine:
            sites = enqueue_watch(engine, list_name, watch_list, scrapy)
        click.echo(
            f"watch list {list_name!r} stored; {plural(len(sites), 'site')} queued now, the "
            "rest as they come due (run `spintrace worker` on any machine)"
        )
        return
    with app.engine() as engine:
        while True:
            report = run_round(
                engine, watch_list, settings=settings, crawl_settings=scrapy, force=force
            )
            # Alerts printed on stdout ("-") keep it to themselves: the summary goes to stderr.
            _echo(report, err="-" in watch_list.alerts.to)
            if once:
                if report.failed or report.delivery_errors:
                    raise SystemExit(1)
                return
            force = False
            wait = next_due(engine, watch_list)
            seconds = min(max(wait.total_seconds(), 1.0), MAX_SLEEP_SECONDS)
            try:
                time.sleep(seconds)
            except KeyboardInterrupt:
                click.echo("stopped", err=True)
                return


def _echo(report: object, err: bool = False) -> None:
    from spintrace.watch import RoundReport

    assert isinstance(report, RoundReport)
    if not report.checked and not report.failed and not report.entries_due:
        click.echo("watch: nothing due", err=err)
        return
    postponed = f", {report.pages_postponed} postponed" if report.pages_postponed else ""
    click.echo(
        f"watch: checked {plural(len(report.checked), 'site')}; lists: "
        f"{report.lists_fetched} changed, {report.lists_not_modified} unchanged (304); "
        f"pages: {report.entries_due} due, {plural(report.pages_new, 'new capture')}, "
        f"{report.pages_not_modified} unchanged (304), {report.pages_failed} failed{postponed}; "
        f"{plural(report.documents, 'new document')}; "
        f"{plural(report.alerts, 'new copy', 'new copies')} (alerts), {report.delivered} delivered",
        err=err,
    )
    if report.ads_txt_records or report.sellers:
        click.echo(
            f"money trail: {plural(report.ads_txt_records, 'ads.txt record')}, "
            f"{plural(report.sellers, 'seller')} loaded",
            err=err,
        )
    if report.matching_left_to_queued_run:
        click.echo(
            "matching left for later: a queued match run is waiting or going (it or the next "
            "round matches the new pages; alerts are delivered by the next round)",
            err=err,
        )
    for site, reason in report.failed.items():
        click.echo(f"skipped {site}: {reason}", err=True)
    for error in report.delivery_errors:
        click.echo(f"alerts not delivered to {error}", err=True)
