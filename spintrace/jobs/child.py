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
import signal
from typing import Any

from spintrace.crawler.child import child_command, die_with_parent, last_json_line

__all__ = ["exit_reason", "peak_rss", "run_child"]


async def run_child(module: str, options: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Run ``module.main()`` in a new Python with ``options`` on its stdin; return its exit
    code and the JSON object of its last stdout line (empty when there is none). Cancelling
    the coroutine kills the child."""
    child = await asyncio.create_subprocess_exec(
        *child_command(module),
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
    return child.returncode, last_json_line(out)


def peak_rss() -> int:
    """This process's peak resident size so far, in bytes: ``VmHWM`` of its own address space
    (``ru_maxrss`` would count the worker it was forked from, as the kernel keeps the larger
    peak across ``exec``); ``ru_maxrss`` only where there is no ``/proc``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def exit_reason(code: int) -> str:
    """How a child process ended, in words, from its exit status (negative: a signal)."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    if -code == signal.SIGKILL:
        return f"was killed by {name} (the out-of-memory killer, or someone's kill -9)"
    return f"was stopped by {name}"
