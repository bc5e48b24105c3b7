"""``spintrace worker`` and ``spintrace jobs``: running and watching queued work (PostgreSQL).

The ``--queue`` options of ``crawl``, ``captures process`` and ``match`` queue their work with
the helpers here; see docs/scale-out.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import click

from spintrace.cli.app import App, echo_json, load_settings
from spintrace.reports.rendering import plural

__all__ = ["echo_queued_crawls", "jobs", "queue_match", "queue_processing", "worker"]

STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
SHOWN = {"todo": "queued", "doing": "running", "succeeded": "done"}


@click.command()
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(("crawl", "process", "index", "match", "watch")),
    help="Only take jobs of this kind (repeatable); all kinds by default.",
)
@click.option("--burst", is_flag=True, help="Stop when no job is queued or running.")
@click.option(
    "--heartbeat",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds between heartbeats; a worker silent for three loses its jobs to others.",
)
@click.option("--name", help="The worker's name in logs and in `spintrace jobs`.")
@click.pass_obj
def worker(
    app: App, queues: tuple[str, ...], burst: bool, heartbeat: float, name: str | None
) -> None:
    """Run queued jobs (PostgreSQL): start any number, on any machine reaching the database.

    One job at a time per worker: start one per core. Ctrl-C or SIGTERM stops the worker after
    its running job; a killed worker's jobs are queued again after three missed heartbeats.
    """
    from spintrace.jobs import run_worker

    settings = load_settings()
    with app.queue_engine("spintrace worker") as engine:
        # A worker logs its jobs only with -v: say that it runs, and when it stops.
        app.info(
            f"worker {name or 'spintrace-worker'} running {', '.join(queues) or 'all'} jobs"
            f"{' until none is left' if burst else ''} (`spintrace -v worker` logs each one); "
            "Ctrl-C or SIGTERM stops it after its running job",
            err=True,
        )
        run_worker(engine, settings, queues=queues, burst=burst, heartbeat=heartbeat, name=name)
    app.info("worker stopped", err=True)


@click.command()
@click.option("--failed", "show_failed", is_flag=True, help="List the latest failed jobs instead.")
@click.pass_obj
def jobs(app: App, show_failed: bool) -> None:
    """Show queued, running, failed and done jobs by kind (PostgreSQL)."""
    from spintrace.jobs import job_counts
    from spintrace.jobs.queue import failed_jobs

    with app.queue_engine("spintrace jobs") as engine:
        if show_failed:
            failed = failed_jobs(engine)
            for job in failed:
                click.echo(
                    f"job {job.id} {job.task} after {plural(job.attempts, 'attempt')}: {job.args}"
                )
            if not failed:
                click.echo("no failed jobs")
            else:
                click.echo("the reason for each is in its worker's log")
            return
        rows = job_counts(engine)
    if not rows:
        click.echo("no jobs queued yet")
        return
    shown = [s for s in STATUSES if any(row.counts.get(s) for row in rows)]
    headers = ["task", *(SHOWN.get(s, s) for s in shown)]
    table = [[row.task, *(str(row.counts.get(s, 0)) for s in shown)] for row in rows]
    widths = [max(len(r[i]) for r in [headers, *table]) for i in range(len(headers))]
    for line in [headers, *table]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def echo_queued_crawls(queued: Sequence[object], *, as_json: bool = False) -> None:
    """What ``crawl --queue`` queued, one site per line (one JSON line with ``as_json``:
    ``job_id`` is null for a site whose crawl was already queued)."""
    from spintrace.jobs.enqueue import QueuedCrawl

    if as_json:
        items = [asdict(item) for item in queued if isinstance(item, QueuedCrawl)]
        new = sum(1 for item in items if item["job_id"] is not None)
        echo_json({"queued": "crawl", "sites": items, "jobs": new})
        return
    for item in queued:
        assert isinstance(item, QueuedCrawl)
        if item.job_id is None:
            click.echo(f"{item.site}: a crawl is already queued")
        else:
            click.echo(f"{item.site}: crawl queued (job {item.job_id})")
    new = sum(1 for item in queued if isinstance(item, QueuedCrawl) and item.job_id is not None)
    click.echo(f"queued {plural(new, 'crawl job')}; run `spintrace worker` to do them")


def queue_processing(app: App, *, as_json: bool = False) -> None:
    """``captures process --queue``."""
    from spintrace.jobs import enqueue_processing

    with app.queue_engine("captures process --queue") as engine:
        captures, parts = enqueue_processing(engine)
    if as_json:
        echo_json({"queued": "process", "captures": captures, "jobs": parts})
        return
    click.echo(f"queued {plural(captures, 'capture')} for extraction in {plural(parts, 'job')}")


def queue_match(app: App, *, as_json: bool = False, recheck: bool = False) -> None:
    """``match --queue`` (``--recheck``: every page's check forgotten once the run may start)."""
    from spintrace.jobs import enqueue_match, unfinished_intake

    with app.queue_engine("match --queue") as engine:
        run = enqueue_match(engine, recheck=recheck)
        unfinished = unfinished_intake(engine)
    if as_json:
        echo_json({"queued": "match", "run": run, "unfinished": asdict(unfinished)})
    else:
        click.echo(
            f"match run {run} queued: workers index new sources, then match stale pages in "
            "batches; `spintrace jobs` shows its progress"
        )
    if unfinished:
        parts = [plural(unfinished.crawl, "crawl job")] if unfinished.crawl else []
        if unfinished.process:
            parts.append(plural(unfinished.process, "capture batch", "capture batches"))
        click.echo(
            f"note: {' and '.join(parts)} still queued or running: the run starts when they "
            "and the extraction of what they store are done (`spintrace jobs` shows them)",
            err=True,
        )
