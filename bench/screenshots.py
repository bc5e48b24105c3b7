"""Screenshots of the reports on the demo data, rendered by headless Chromium.

    python bench/screenshots.py [--output docs/screenshots] [--chromium chromium]

Runs the demo in a temporary folder (its loopback sites crawled, matched: the same database
`spintrace demo` builds, with the six farms' tracking IDs), writes the complaint pack for
harbourgazette.example and the network report, and renders the pack's index and an evidence
page and the network page with Debian's `chromium`
(`apt-get install chromium`) into PNG files, so a person can see what the reports look like.
Chromium runs offline: the pages load nothing (their Content-Security-Policy allows no fetch),
and background networking, sync and component updates are switched off.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from spintrace.db import open_engine
from spintrace.demo.run import run_demo
from spintrace.reports.complaint.pack import build_complaint_pack
from spintrace.reports.network.graph import write_network_report

ROOT = Path(__file__).resolve().parent.parent
OWNER = "harbourgazette.example"


def screenshot(chromium: str, page: Path, png: Path, size: str = "1400,1800") -> None:
    """Render ``page`` (a local HTML file) into ``png`` with headless Chromium."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={size}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no {png}")
    shrink(png)


def shrink(png: Path) -> None:
    """Re-save ``png`` with a 64-colour palette (about a third of the size, text still crisp)."""
    try:
        from PIL import Image
    except ImportError:  # Pillow is optional here: keep the full-colour file
        return
    with Image.open(png) as image:
        palette = image.convert("RGB").quantize(
            colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    palette.save(png, optimize=True)


def build_demo_pack(folder: Path) -> Path:
    """The demo database (a real ``spintrace demo`` run), its complaint pack and network report
    in ``folder``; returns the pack's folder."""
    demo = run_demo(folder / "demo")
    engine = open_engine(demo.database_url)
    try:
        build_complaint_pack(engine, OWNER, folder / "pack")
        write_network_report(engine, folder / "network")
    finally:
        engine.dispose()
    return folder / "pack"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    if shutil.which(args.chromium) is None and not Path(args.chromium).is_file():
        print(f"no Chromium at {args.chromium!r}: apt-get install chromium", file=sys.stderr)
        return 1
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pack = build_demo_pack(Path(tmp))
        shots = {
            "complaint-evidence.png": (pack / "evidence" / "2.html", "1400,1800"),
            "complaint-index.png": (pack / "index.html", "1400,1000"),
            "network.png": (Path(tmp) / "network" / "network.html", "1400,1600"),
        }
        for name, (page, size) in shots.items():
            screenshot(args.chromium, page, args.output / name, size)
            print(f"{args.output / name}: {(args.output / name).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
