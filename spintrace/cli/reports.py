"""``spintrace report``: complaint packs and network maps (docs/reports.md).

Added to the ``spintrace`` group by :mod:`spintrace.cli`.
"""

from __future__ import annotations

from pathlib import Path

import click

from spintrace.cli.app import App
from spintrace.reports.rendering import plural

__all__ = ["report"]


@click.group()
def report() -> None:
    """Reports for people: complaint packs for rights holders, network maps for investigators."""


@report.command("complaint")
@click.option(
    "--owner",
    required=True,
    metavar="DOMAIN",
    help="The rights holder's site: its sources (and its subdomains') are the works.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the pack: new, empty, or an earlier pack (replaced).",
)
@click.pass_obj
def report_complaint(app: App, owner: str, output: Path) -> None:
    """Write a complaint pack: CSV, evidence pages, notice drafts, WARC, index.html."""
    from spintrace.reports.complaint.pack import build_complaint_pack

    with app.engine() as engine:
        summary = build_complaint_pack(engine, owner, output)
    warc = (
        f"{plural(summary.captures, 'capture')} in the WARC" if summary.captures else "no captures"
    )
    click.echo(
        f"{summary.owner}: {plural(summary.works, 'work')} copied, "
        f"{plural(summary.copies, 'copy', 'copies')}, {plural(len(summary.sites), 'site')}, {warc}"
    )
    click.echo(f"open {summary.index}")


@report.command("network")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for network.gexf, network.png, network.html, sites.csv, edges.csv and dossiers/.",
)
@click.option(
    "--window",
    "window_hours",
    type=click.FloatRange(min=0),
    default=48.0,
    show_default=True,
    metavar="HOURS",
    help="Copies of one source whose times (published, else captured) are this close link "
    "their sites.",
)
@click.option(
    "--min-strength",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    metavar="X",
    help="Leave out links weaker than this (0..1).",
)
@click.pass_obj
def report_network(app: App, output: Path, window_hours: float, min_strength: float) -> None:
    """Map which sites look run by one operator: shared IDs, timing, spinner."""
    from spintrace.reports.network.graph import write_network_report

    with app.engine() as engine:
        summary = write_network_report(engine, output, window_hours, min_strength)
    click.echo(f"{summary.sites} sites, {summary.edges} links, {summary.communities} communities")
    click.echo(f"open {output / 'network.html'} (or network.gexf in Gephi)")
