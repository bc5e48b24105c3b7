"""The bundled demo: public-domain publisher and farm sites served on loopback, crawled,
matched and compared with the known truth (``spintrace demo``)."""

from __future__ import annotations

from spintrace.demo.run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
