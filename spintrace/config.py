"""Settings, declared once as data.

:class:`Settings` lists every tunable value with its default and help text (in the field
metadata); ``docs/settings.md`` documents every one of them and a test checks that it does. Each
can be overridden with the environment variable ``SPINTRACE_<NAME>`` (upper case), e.g.
``SPINTRACE_MATCH_THRESHOLD=0.6``. The database URL is ``--db``, else ``SPINTRACE_DB``, else
:data:`DEFAULT_DB_URL`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, cast

from spintrace.errors import ConfigError

__all__ = ["DB_ENV_VAR", "DEFAULT_DB_URL", "Settings", "describe_settings"]

DEFAULT_DB_URL = "sqlite:///spintrace.db"
DB_ENV_VAR = "SPINTRACE_DB"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Every tunable value of spintrace, with its default."""

    match_threshold: float = _setting(
        0.46,
        "Lowest score of an alignment link: max(rarity-weighted share of the page from the "
        "source, rarity-weighted share of the source in the page) times the share of the "
        "source's names and numbers kept (docs/matching.md). Every stored link scores at least "
        "this.",
    )
    passage_weight: float = _setting(
        36.0,
        "A rare exact passage whose words weigh at least this much (each word 1/sqrt of the "
        "number of sources holding its rarer word pair) is a link on its own: a paragraph "
        "pasted into otherwise original text (docs/matching.md).",
    )
    min_page_tokens: int = _setting(
        10,
        "Pages with fewer word tokens are not matched but counted as too short: below it a "
        "chance overlap is as likely as a copy. The shortest copy in the dev set has 13.",
    )
    num_perm: int = _setting(
        128,
        "MinHash permutations of the stored signatures; applies to sources indexed afterwards "
        "(each signature is stored with its parameters).",
    )
    seed: int = _setting(1, "MinHash permutation seed (the same seed as datasketch's default).")
    max_candidates: int = _setting(
        10, "Candidates verified per page, highest estimated containment first."
    )
    batch_size: int = _setting(500, "Rows written per database transaction during imports.")
    max_html_bytes: int = _setting(
        5_000_000, "HTML larger than this many UTF-8 bytes is rejected instead of extracted."
    )
    db_connect_timeout: int = _setting(
        10,
        "Seconds to wait for a PostgreSQL server to accept a connection and answer it; a server "
        "that accepts and never answers is an error after this long, not a hang.",
    )
    db_statement_timeout: int = _setting(
        600,
        "Seconds one PostgreSQL statement may run (0: no limit); migrations and index merges "
        "run without it. A connection whose server stops answering is dropped by TCP "
        "keepalives after about a minute.",
    )

    def __post_init__(self) -> None:
        if not 0.0 < self.match_threshold <= 1.0:
            raise ConfigError(f"match_threshold must be in (0, 1], got {self.match_threshold}")
        if self.passage_weight <= 0:
            raise ConfigError(f"passage_weight must be positive, got {self.passage_weight}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be in [0, 2**32), got {self.seed}")
        for name in (
            "min_page_tokens",
            "num_perm",
            "max_candidates",
            "batch_size",
            "max_html_bytes",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.db_connect_timeout < 1 or self.db_statement_timeout < 0:
            raise ConfigError(
                "db_connect_timeout must be at least 1 second and db_statement_timeout at "
                f"least 0, got {self.db_connect_timeout} and {self.db_statement_timeout}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by ``SPINTRACE_<NAME>`` variables; :class:`ConfigError` if bad."""
        env = os.environ if environ is None else environ
        changes: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(env_var(f.name))
            if raw is None or raw == "":
                continue
            kind: type[Any] = type(cast(Any, f.default))
            try:
                changes[f.name] = kind(raw)
            except ValueError:
                raise ConfigError(
                    f"{env_var(f.name)}={raw!r} is not a valid {kind.__name__} "
                    f"(the default is {f.default!r})"
                ) from None
        return replace(cls(), **changes)


def env_var(name: str) -> str:
    """The environment variable that overrides setting ``name``."""
    return "SPINTRACE_" + name.upper()


def describe_settings() -> list[tuple[str, str, Any, str]]:
    """``(name, environment variable, default, help)`` for every setting, in declaration order."""
    return [(f.name, env_var(f.name), f.default, f.metadata["help"]) for f in fields(Settings)]
