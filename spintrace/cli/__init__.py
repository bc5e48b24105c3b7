"""The ``spintrace`` command: a thin layer over the library (see docs/cli.md).

:mod:`spintrace.cli.app` holds the group and the shared context; each command family lives in
its own module and is added to the group here.
"""

from __future__ import annotations

import sys

from spintrace.cli.alerts import alerts
from spintrace.cli.app import cli, silence_stdout
from spintrace.cli.crawl import captures, crawl
from spintrace.cli.database import db
from spintrace.cli.demo import demo
from spintrace.cli.export import export
from spintrace.cli.imports import pages, sources
from spintrace.cli.jobs import jobs, worker
from spintrace.cli.match import index, match, spinners
from spintrace.cli.reports import report
from spintrace.cli.settings import settings
from spintrace.cli.watch import watch

__all__ = ["cli", "main"]

_COMMANDS = (db, sources, pages, match, index, spinners, export, crawl, captures, report, demo)
for _command in (*_COMMANDS, worker, jobs, alerts, watch, settings):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``spintrace`` console script."""
    try:
        cli(prog_name="spintrace")
    finally:
        # Output still buffered for a pipe whose reader has gone: drop it quietly.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            silence_stdout()
