"""``spintrace demo``: the whole pipeline on bundled sites served on loopback."""

from __future__ import annotations

import shlex
import signal
import sys
import time
from pathlib import Path

import click

from spintrace.cli.app import load_settings
from spintrace.reports.rendering import plural

__all__ = ["demo"]


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("spintrace-demo"),
    show_default=True,
    help="Folder for the demo database, crawl settings and matches.csv.",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Only serve the demo sites, until Ctrl-C, for your own crawls (e.g. `crawl --queue`).",
)
def demo(output: Path, serve: bool) -> None:
    """Crawl bundled demo sites on loopback, match and export (nothing leaves this machine).

    Serves publisher sites and six content farms of two operators, built from the bundled
    public-domain demo articles, on 127.0.0.1, crawls them with `spintrace crawl`, matches
    the pages to the sources, writes matches.csv and compares the links with the demo's
    known truth. With --serve it serves the sites and writes the crawl settings that reach
    them (serve-settings.json in the output folder), and nothing else, until stopped.
    """
    if serve:
        _serve(output)
        return
    from spintrace.demo.run import run_demo

    click.echo("serving the demo sites on 127.0.0.1 (nothing leaves this machine)...")
    result = run_demo(output, load_settings())
    for run in result.crawls:
        hosts = ", ".join(url.split("/")[2] for url in run.urls)
        click.echo(f"crawl --as {run.role}: {hosts}")
        for line in run.output:
            click.echo(f"  {line}")
    assert result.match is not None
    click.echo(
        f"matched {plural(result.match.checked, 'page')} against "
        f"{plural(result.match.sources, 'source')}: "
        f"{result.match.linked} linked"
    )
    click.echo("")
    for row in result.links:
        click.echo(
            f"  {row['page_url']}\n    copies {row['source_url']}\n"
            f"    score {float(row['score']):.2f}, spin rate {float(row['spin_rate']):.0%}, "
            f"{plural(int(row['substitutions']), 'substitution')}, "
            f"{plural(int(row['passages']), 'aligned passage')}"
        )
    click.echo("")
    click.echo(
        f"{result.found} of {result.copies} copies linked to their true source, "
        f"{plural(result.wrong, 'link')} to a wrong source, "
        f"{plural(result.false_links, 'false link')}"
    )
    if result.substitutions:
        click.echo("")
        click.echo(f"spinner substitutions learned (top {len(result.substitutions)}):")
        for pair in result.substitutions:
            click.echo(
                f"  {pair.spun} -> {pair.original} "
                f"[{pair.pairs} matches, {pair.relation or 'recurring'}] {pair.sites}"
            )
    if any(result.tracking.values()):
        click.echo("")
        click.echo("tracking IDs per farm:")
        for domain, ids in result.tracking.items():
            click.echo(f"  {domain}: {', '.join(ids) or 'none'}")
    if result.watch is not None:
        watch = result.watch
        click.echo("")
        click.echo(
            f"watch round ({output / 'watch.toml'}): {plural(len(watch.checked), 'site')} "
            f"checked, {watch.lists_fetched} lists read, {watch.entries_due} linked pages not "
            f"captured yet fetched ({watch.pages_new} new captures), "
            f"{plural(watch.delivered, 'alert')} written to "
            f"{output / 'alerts.jsonl'} (one per copy linked for the first time)"
        )
    if any(result.money.values()):
        click.echo("")
        click.echo("money trail (ads.txt DIRECT accounts, sellers.json):")
        for domain, accounts in result.money.items():
            click.echo(f"  {domain}: {'; '.join(accounts) or 'none'}")
    click.echo("")
    click.echo(f"database: {result.database_url}")
    click.echo(f"matches:  {output / 'matches.csv'}")
    click.echo(f"done in {result.seconds:.1f} s")


def _serve(output: Path) -> None:
    """``demo --serve``: the sites on loopback, and how to crawl them, until SIGINT/SIGTERM.

    The handlers only set a flag, which the main thread polls (a handler that took a lock,
    as ``threading.Event.set`` does, could deadlock against the interrupted main thread); they
    are in place from before the servers start until after they stop, so a signal at any
    moment, a second one included, ends the command cleanly.
    """
    from spintrace.demo.servers import SERVE_SETTINGS_FILE
    from spintrace.demo.sites import DemoServers, build_sites, write_crawl_settings

    stopped: list[int] = []
    previous = {
        number: signal.signal(number, lambda number, _: stopped.append(number))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        sites = build_sites()
        with DemoServers(sites) as servers:
            hosts = servers.hosts
            settings = write_crawl_settings(output, hosts, SERVE_SETTINGS_FILE).resolve()
            click.echo(
                f"serving {plural(len(sites), 'demo site')} on 127.0.0.1 until Ctrl-C (nothing "
                f"leaves this machine); {settings} routes each host to its server, also for "
                "`crawl --queue` (the settings travel with the job; the ports change on "
                "every start)",
                err=True,
            )
            program = sys.argv[0] if Path(sys.argv[0]).name == "spintrace" else "spintrace"
            for role, name in (("source", "publishers"), ("page", "content farms")):
                urls = [site.start_url for site in sites if site.role == role]
                command = [program, "crawl", "--as", role, "--settings", str(settings), *urls]
                click.echo(f"{name} (crawl --as {role}):")
                click.echo(f"  {shlex.join(command)}")
            while not stopped:
                time.sleep(0.1)
            click.echo(f"stopped; {plural(servers.requests, 'request')} answered", err=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
