"""Settings, declared once as data, and every environment variable spintrace reads.

:class:`Settings` lists every tunable value with its default and help text (in the field
metadata); ``docs/settings.md`` documents every one of them and a test checks that it does. A
value comes from, last one winning: the default; the settings file (``spintrace.toml`` in the
current folder, or the file ``$SPINTRACE_SETTINGS`` names); the environment variable
``SPINTRACE_<NAME>`` (upper case, e.g. ``SPINTRACE_MATCH_THRESHOLD=0.6``); a command's flag
(``spintrace match --threshold 0.6``). :func:`resolve_settings` says where each value came from.

:data:`ENVIRONMENT` declares every ``SPINTRACE_*`` environment variable spintrace (and its test
suite) reads; :func:`check_environment` turns any other one, usually a misspelt name, into an
error. The database URL is ``--db``, else ``SPINTRACE_DB``, else :data:`DEFAULT_DB_URL`.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

from spintrace.errors import ConfigError

__all__ = [
    "DB_ENV_VAR",
    "DEFAULT_DB_URL",
    "ENVIRONMENT",
    "SETTINGS_FILE",
    "SETTINGS_FILE_ENV_VAR",
    "ResolvedSettings",
    "Settings",
    "check_environment",
    "describe_settings",
    "env_var",
    "resolve_settings",
    "setting_flag",
    "verdict_settings",
]

DEFAULT_DB_URL = "sqlite:///spintrace.db"
DB_ENV_VAR = "SPINTRACE_DB"
SETTINGS_FILE = "spintrace.toml"
SETTINGS_FILE_ENV_VAR = "SPINTRACE_SETTINGS"
_PREFIX = "SPINTRACE_"


def _setting(default: Any, help: str, *, flag: str | None = None, verdict: bool = False) -> Any:
    """A field of :class:`Settings`: ``flag`` is its option on the commands that take it
    (``--flag``); ``verdict`` marks a value a page's verdict depends on (changing it makes
    ``match`` judge every page again)."""
    return field(default=default, metadata={"help": help, "flag": flag, "verdict": verdict})


@dataclass(frozen=True)
class Settings:
    """Every tunable value of spintrace, with its default.

    Changing the default of a ``verdict`` setting changes verdicts: it must come with a new
    ``MATCHER_VERSION`` (pages checked with the defaults record the matcher version alone).
    """

    match_threshold: float = _setting(
        0.46,
        "Lowest score of an alignment link: max(rarity-weighted share of the page from the "
        "source, rarity-weighted share of the source in the page) times the share of the "
        "source's names and numbers kept (docs/matching.md). Every stored link scores at least "
        "this.",
        flag="threshold",
        verdict=True,
    )
    passage_weight: float = _setting(
        36.0,
        "A rare exact passage whose words weigh at least this much (each word 1/sqrt of the "
        "number of sources holding its rarer word pair, per 5,000 sources past that) is a "
        "link on its own: a paragraph pasted into otherwise original text (docs/matching.md).",
        flag="passage-weight",
        verdict=True,
    )
    min_page_tokens: int = _setting(
        10,
        "Pages with fewer word tokens are not matched but counted as too short: below it a "
        "chance overlap is as likely as a copy. The shortest copy in the dev set has 13.",
        flag="min-page-tokens",
        verdict=True,
    )
    num_perm: int = _setting(
        128,
        "MinHash permutations of the stored signatures; applies to sources indexed afterwards "
        "(each signature is stored with its parameters).",
    )
    seed: int = _setting(1, "MinHash permutation seed (the same seed as datasketch's default).")
    max_candidates: int = _setting(
        10,
        "Candidates verified per page, highest estimated containment first.",
        flag="max-candidates",
        verdict=True,
    )
    batch_size: int = _setting(
        500, "Rows written per database transaction during imports and matching."
    )
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
        """The settings in effect without flags: the defaults, overridden by the settings file,
        then by ``SPINTRACE_<NAME>`` variables; :class:`ConfigError` if a value is bad."""
        return resolve_settings(environ=environ).settings


def env_var(name: str) -> str:
    """The environment variable that overrides setting ``name``."""
    return _PREFIX + name.upper()


def setting_flag(name: str) -> str | None:
    """The command-line flag of setting ``name`` (``--threshold``), or ``None``."""
    flag = _FIELDS[name].metadata["flag"]
    return f"--{flag}" if flag else None


def describe_settings() -> list[tuple[str, str, Any, str]]:
    """``(name, environment variable, default, help)`` for every setting, in declaration order."""
    return [(f.name, env_var(f.name), f.default, f.metadata["help"]) for f in fields(Settings)]


def verdict_settings(settings: Settings) -> dict[str, Any]:
    """The settings a page's verdict depends on whose value is not the default, by name."""
    return {
        f.name: getattr(settings, f.name)
        for f in fields(Settings)
        if f.metadata["verdict"] and getattr(settings, f.name) != f.default
    }


_FIELDS = {f.name: f for f in fields(Settings)}

#: Every ``SPINTRACE_*`` environment variable spintrace or its tests read, with what it does;
#: any other is an error (a misspelt name would otherwise be ignored without a word).
ENVIRONMENT: dict[str, str] = {
    DB_ENV_VAR: "The database URL (or a SQLite file's path) when --db is not given.",
    SETTINGS_FILE_ENV_VAR: f"The settings file to read instead of ./{SETTINGS_FILE}.",
    **{env_var(f.name): f"Setting {f.name}." for f in fields(Settings)},
    "SPINTRACE_TEST_PG_URL": "Tests: the PostgreSQL server to create test databases on.",
    "SPINTRACE_REQUIRE_SERVICES": "Tests: 1 turns a skip for a missing service into a "
    "failure (set by .ci/run).",
}


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """A :class:`ConfigError` naming the first ``SPINTRACE_*`` variable that spintrace does not
    read (a misspelt name, which would otherwise be ignored), with the closest known name."""
    env = os.environ if environ is None else environ
    unknown = sorted(name for name in env if name.startswith(_PREFIX) and name not in ENVIRONMENT)
    if not unknown:
        return
    name = unknown[0]
    # Compared without the prefix they all share, which would make any two names look close.
    known = [known.removeprefix(_PREFIX) for known in ENVIRONMENT]
    close = difflib.get_close_matches(name.removeprefix(_PREFIX), known, n=1, cutoff=0.6)
    hint = (
        f"did you mean {_PREFIX}{close[0]}?"
        if close
        else "docs/settings.md lists the ones spintrace reads"
    )
    raise ConfigError(f"unknown environment variable {name} ({hint})")


@dataclass(frozen=True)
class ResolvedSettings:
    """The settings in effect, and where each value came from: ``default``, ``file PATH``,
    ``environment NAME`` or ``flag --NAME``."""

    settings: Settings
    origins: dict[str, str]
    file: Path | None
    """The settings file read, ``None`` when there is none."""


def _settings_file(env: Mapping[str, str], cwd: Path | None) -> Path | None:
    named = env.get(SETTINGS_FILE_ENV_VAR)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{SETTINGS_FILE_ENV_VAR}={named!r}: no such settings file")
        return path
    default = (cwd or Path.cwd()) / SETTINGS_FILE
    return default if default.is_file() else None


def _closest(name: str) -> str:
    close = difflib.get_close_matches(name, list(_FIELDS), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(_FIELDS)})"


def _typed(name: str, value: Any, where: str) -> Any:
    """``value`` (from a TOML file or a flag) as setting ``name``'s type."""
    kind: type[Any] = type(cast(Any, _FIELDS[name].default))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {name} must be a number, got {value!r}")
    if kind is int and not isinstance(value, int):
        raise ConfigError(f"{where}: {name} must be a whole number, got {value!r}")
    return kind(value)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    values = {}
    for name, value in data.items():
        if name not in _FIELDS:
            raise ConfigError(f"{path}: unknown setting {name!r}{_closest(name)}")
        values[name] = _typed(name, value, str(path))
    return values


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for name, f in _FIELDS.items():
        raw = env.get(env_var(name))
        if raw is None or raw == "":
            continue
        kind: type[Any] = type(cast(Any, f.default))
        try:
            values[name] = kind(raw)
        except ValueError:
            raise ConfigError(
                f"{env_var(name)}={raw!r} is not a valid {kind.__name__} "
                f"(the default is {f.default!r})"
            ) from None
    return values


def resolve_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ResolvedSettings:
    """The settings in effect: the defaults, overridden by the settings file (the one
    ``$SPINTRACE_SETTINGS`` names, else ``spintrace.toml`` in ``cwd`` when there is one), by
    ``SPINTRACE_<NAME>`` variables, then by ``flags`` (setting name -> value, from a command's
    options). A bad value, an unknown name in the file or a missing named file is a
    :class:`ConfigError` that says where."""
    env = os.environ if environ is None else environ
    origins = dict.fromkeys(_FIELDS, "default")
    changes: dict[str, Any] = {}
    path = _settings_file(env, cwd)
    layers: list[tuple[dict[str, Any], Any]] = []
    if path is not None:
        layers.append((_read_file(path), lambda _name: f"file {path}"))
    layers.append((_from_env(env), lambda name: f"environment {env_var(name)}"))
    given = {}
    for name, value in (flags or {}).items():
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting {name!r}{_closest(name)}")
        given[name] = _typed(name, value, setting_flag(name) or name)
    layers.append((given, lambda name: f"flag {setting_flag(name) or name}"))
    for values, origin in layers:
        for name, value in values.items():
            changes[name] = value
            origins[name] = origin(name)
    return ResolvedSettings(replace(Settings(), **changes), origins, path)
