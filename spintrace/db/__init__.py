"""Persistence: typed models, engines and migrations (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

from spintrace.db.alerts import Alert, AlertDelivery, AlertSink
from spintrace.db.engine import open_engine, sqlite_path
from spintrace.db.migrate import (
    current_revision,
    downgrade,
    head_revision,
    require_current_schema,
    upgrade,
)
from spintrace.db.models import (
    Base,
    Capture,
    Document,
    DocumentTokens,
    IndexSegment,
    LearnedSubstitution,
    Match,
    MatchCheck,
    Signature,
    Site,
    SiteIndicator,
    SubstitutionSite,
)
from spintrace.db.watch import Seller, StoredWatchList, WatchResource

__all__ = [
    "Alert",
    "AlertDelivery",
    "AlertSink",
    "Base",
    "Capture",
    "Document",
    "DocumentTokens",
    "IndexSegment",
    "LearnedSubstitution",
    "Match",
    "MatchCheck",
    "Seller",
    "Signature",
    "Site",
    "SiteIndicator",
    "StoredWatchList",
    "SubstitutionSite",
    "WatchResource",
    "current_revision",
    "downgrade",
    "head_revision",
    "open_engine",
    "require_current_schema",
    "sqlite_path",
    "upgrade",
]
