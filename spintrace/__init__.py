"""spintrace: find scraped and synonym-spun copies of articles and link them to their sources.

The package is layered (see ``docs/architecture.md``); importing it has no side effects: no
database engine, no Scrapy reactor and no pandas are created or imported here.
"""

from __future__ import annotations

import logging

from spintrace.errors import (
    DatabaseError,
    InputError,
    NotMigratedError,
    SpintraceError,
)

__version__ = "0.1.0"

__all__ = [
    "DatabaseError",
    "InputError",
    "NotMigratedError",
    "SpintraceError",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
