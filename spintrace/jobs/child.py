"""Work a worker runs in a child process: a crawl (Twisted's reactor cannot restart in one
process) and an index merge (its gigabyte goes back to the system whole when the child ends,
instead of staying in the worker's heap under the judge it loads next).

A child runs ``<module>.main()`` in a new Python: it reads its options as one JSON object on
stdin and prints its report as one JSON line on stdout (its last line). It dies with its
worker (on Linux the kernel sends it SIGKILL when the worker dies,
:func:`spintrace.crawler.child.die_with_parent`), so a worker killed with SIGKILL leaves no
orphan behind; and it runs in a session of its own, so a Ctrl-C meant for the worker (which
then stops after the running job) does not cut it short.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from typing import Any

from spintrace.crawler.child import die_with_parent

__all__ = ["peak_rss", "run_child"]


async def run_child(module: str, options: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Run ``module.main()`` in a new Python with ``options`` on its stdin; return its exit
    code and the JSON object of its last stdout line (empty when there is none). Cancelling
    the coroutine kills the child."""
    # Not ``python -m module``: the package imports the module first, and runpy warns.
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        f"from {module} import main; main()",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent(),
        start_new_session=True,
    )
    try:
        out, _ = await child.communicate(json.dumps(options).encode())
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode is not None
    lines = out.decode("utf-8", "replace").strip().splitlines()
    result: dict[str, Any] = {}
    if lines:
        try:
            loaded = json.loads(lines[-1])
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            result = loaded
    return child.returncode, result


def peak_rss() -> int:
    """This process's peak resident size so far, in bytes (Linux counts kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
