"""``spintrace report``: complaint packs and network maps (docs/reports.md).

Added to the ``spintrace`` group by :mod:`spintrace.cli`.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import click

from spintrace.cli.app import App, echo_json, json_option
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
@click.option(
    "--contacts",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A CSV file of abuse contacts you looked up (columns site,abuse_contact): the CSV "
    "carries them and each notice draft is addressed to its site's.",
)
@json_option
@click.pass_obj
def report_complaint(
    app: App, owner: str, output: Path, contacts: Path | None, as_json: bool
) -> None:
    """Write a complaint pack: CSV, evidence pages, notice drafts, WARC, index.html."""
    from spintrace.reports.complaint.contacts import read_contacts
    from spintrace.reports.complaint.pack import build_complaint_pack

    known = read_contacts(contacts) if contacts is not None else None
    with app.engine() as engine:
        summary = build_complaint_pack(engine, owner, output, known)
    unused = sorted(set(known or ()) - set(summary.sites))
    if unused:  # a misspelt site would otherwise leave its notice unaddressed without a word
        click.echo(
            f"note: the contacts file names {plural(len(unused), 'site')} with no copy in this "
            f"pack: {', '.join(unused[:10])}{' ...' if len(unused) > 10 else ''}",
            err=True,
        )
    if as_json:
        echo_json({**asdict(summary), "sites": list(summary.sites)})
        return
    warc = (
        f"{plural(summary.captures, 'capture')} in the WARC" if summary.captures else "no captures"
    )
    app.info(
        f"{summary.owner}: {plural(summary.works, 'work')} copied, "
        f"{plural(summary.copies, 'copy', 'copies')}, {plural(len(summary.sites), 'site')}, {warc}"
    )
    app.info(f"open {summary.index}")


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
@json_option
@click.pass_obj
def report_network(
    app: App, output: Path, window_hours: float, min_strength: float, as_json: bool
) -> None:
    """Map which sites look run by one operator: shared IDs, timing, spinner."""
    from spintrace.reports.network.graph import write_network_report

    with app.engine() as engine:
        summary = write_network_report(engine, output, window_hours, min_strength)
    if as_json:
        echo_json(
            {
                "output_dir": output,
                "sites": summary.sites,
                "links": summary.edges,
                "communities": summary.communities,
                "files": [str(path) for path in summary.files],
                "dossiers": len(summary.dossiers),
            }
        )
        return
    app.info(
        f"{plural(summary.sites, 'site')}, {plural(summary.edges, 'link')}, "
        f"{plural(summary.communities, 'community', 'communities')}"
    )
    app.info(f"open {output / 'network.html'} (or network.gexf in Gephi)")


@report.command("datasette")
@click.option(
    "--output",
    "-o",
    default="metadata.json",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="The metadata file to write ('-' is stdout); pass it to datasette's --metadata.",
)
@json_option
@click.pass_obj
def report_datasette(app: App, output: Path, as_json: bool) -> None:
    """Write datasette metadata: labelled views of matches, sites and a full-text search."""
    from spintrace.reports.datasette import write_datasette_metadata

    to_stdout = str(output) == "-"
    if to_stdout and as_json:
        raise click.UsageError("--json and --output - would both write to stdout; give a file")
    if not to_stdout:
        app.refuse_database_file(output)
    with app.engine() as engine:
        summary = write_datasette_metadata(engine, sys.stdout if to_stdout else output)
    shown = "metadata.json" if to_stdout else str(output)
    if as_json:
        echo_json({**asdict(summary), "output": shown, "command": summary.command(shown)})
        return
    app.info(
        f"{summary.database}: {plural(len(summary.queries), 'query', 'queries')}"
        f"{', full-text search' if summary.full_text else ''}",
        err=to_stdout,
    )
    app.info(f"open with: {summary.command(shown)}", err=to_stdout)
