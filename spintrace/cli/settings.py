"""``spintrace settings`` and the setting flags of other commands (``match --threshold``).

A setting's flag is declared with the setting (:class:`spintrace.config.Settings`, field
metadata ``flag``); :func:`setting_options` adds the flags of some settings to a command, and
:func:`spintrace.cli.app.load_settings` reads them back, over the variables, the file and the
defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar, cast

import click

from spintrace.cli.app import SETTING_FLAGS, echo_json, json_option
from spintrace.config import (
    SETTINGS_FILE,
    SETTINGS_FILE_ENV_VAR,
    ResolvedSettings,
    Settings,
    resolve_settings,
    setting_flag,
)

__all__ = ["given_setting_flags", "setting_options", "settings", "settings_in_effect"]

F = TypeVar("F", bound=Callable[..., Any])

#: The settings that have a flag, in declaration order.
FLAGGED = tuple(f.name for f in fields(Settings) if f.metadata["flag"])


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(SETTING_FLAGS, {})[param.name] = value


def setting_options(*names: str) -> Callable[[F], F]:
    """Add the flags of settings ``names`` (all that have one when none is given) to a
    command; their values are read by :func:`spintrace.cli.app.load_settings`, not passed to
    the command's function."""

    def decorate(command: F) -> F:
        for name in reversed(names or FLAGGED):
            field = next(f for f in fields(Settings) if f.name == name)
            flag = setting_flag(name)
            assert flag is not None, f"setting {name} has no flag"
            default = cast(Any, field.default)
            command = click.option(
                flag,
                name,
                type=click.FLOAT if isinstance(default, float) else click.INT,
                default=None,
                expose_value=False,
                callback=_remember,
                metavar="X" if isinstance(default, float) else "N",
                help=f"Setting {name} (default {default!r}; docs/settings.md).",
            )(command)
        return command

    return decorate


def given_setting_flags() -> dict[str, Any]:
    """The setting flags given to the running command, by setting name."""
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get(SETTING_FLAGS, {})) if ctx else {}


def settings_in_effect() -> ResolvedSettings:
    """The settings in effect for the running command, and where each came from."""
    return resolve_settings(given_setting_flags())


@click.command("settings")
@setting_options()
@json_option
def settings(as_json: bool) -> None:
    """Show the settings in effect and where each came from.

    A value comes from the default, the settings file (./spintrace.toml, or the file
    $SPINTRACE_SETTINGS names), a SPINTRACE_<NAME> environment variable or a flag, the last
    one winning. The flags given here show what a command given them would use.
    """
    resolved = settings_in_effect()
    values = {name: getattr(resolved.settings, name) for name in resolved.origins}
    if as_json:
        echo_json(
            {
                "file": str(resolved.file) if resolved.file else None,
                "settings": {
                    name: {"value": value, "from": resolved.origins[name]}
                    for name, value in values.items()
                },
            }
        )
        return
    width = max(map(len, values))
    shown = {name: repr(value) for name, value in values.items()}
    value_width = max(map(len, shown.values()))
    for name, value in shown.items():
        click.echo(f"{name:<{width}}  {value:<{value_width}}  {resolved.origins[name]}")
    if resolved.file is None:
        click.echo(
            f"settings file: none (./{SETTINGS_FILE} does not exist and ${SETTINGS_FILE_ENV_VAR} "
            "is not set)"
        )
    else:
        click.echo(f"settings file: {resolved.file}")
