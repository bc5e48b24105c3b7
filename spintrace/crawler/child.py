"""Child processes (crawls, index merges) that die with their parent.

A crawl runs in a child process (Twisted's reactor cannot restart in one process, so each
crawl is a subprocess, as in scrapyd). On Linux the child asks the kernel for SIGKILL when
its parent dies (``PR_SET_PDEATHSIG``), so a worker killed with SIGKILL leaves no orphan
crawl behind. Pass :func:`die_with_parent` as ``preexec_fn``.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["child_command", "die_with_parent", "last_json_line"]

PR_SET_PDEATHSIG = 1

# Resolved in the parent at import, before any fork: a dlopen between fork and exec in a
# process with threads could deadlock on a lock another thread held.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` for the child: SIGKILL when this process (its parent) dies. The
    signal follows the *thread* that forked, so fork from a thread that lives as long as the
    parent does (the main thread, or a pool thread that is not retired)."""
    parent = os.getpid()

    def arm() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm


def child_command(module: str) -> list[str]:
    """The command that runs ``module.main()`` in a new Python (the crawl and merge children
    read their options as JSON on stdin and print their report as one JSON line on stdout).
    Not ``python -m module``: a package that imports the module first makes runpy warn."""
    return [sys.executable, "-c", f"from {module} import main; main()"]


def last_json_line(out: bytes) -> dict[str, Any]:
    """The JSON object on the last line of a child's stdout (empty when there is none)."""
    lines = out.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return {}
    try:
        loaded = json.loads(lines[-1])
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
