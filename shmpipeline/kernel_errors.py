"""Error messages of plugin kernels, sources and sinks, in the built-ins' words.

Every configuration problem reads ``kernel '<name>': <field>: <problem>``
(``source '<name>'`` / ``sink '<name>'`` for endpoints), the field being
``input``, ``output``, ``auxiliary.<alias>``, ``parameters.<key>``... The
validator adds the entry's index and the file and line, so a plugin's
``validate_config`` raises exactly what the built-in kinds raise::

    from shmpipeline.kernel_errors import parameter_error

    if not 0 < gain <= 1:
        raise parameter_error(config, "gain", f"must be in (0, 1], got {gain!r}")
    # ConfigValidationError: kernel 'loop': parameters.gain: must be in (0, 1], got 2

The parameter readers of the built-in kinds (``parse_number``,
``parse_positive_int``, ``parse_choice``, ``check_known_parameters``) are
re-exported here for kernels: they raise in that format too.
"""

from __future__ import annotations

from typing import Any

from shmpipeline.config import SinkConfig, SourceConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.kernels._validation import (
    REQUIRED,
    check_known_parameters,
    parse_choice,
    parse_number,
    parse_positive_int,
)

__all__ = [
    "REQUIRED",
    "check_known_parameters",
    "config_error",
    "entry_label",
    "parameter_error",
    "parse_choice",
    "parse_number",
    "parse_positive_int",
]


def entry_label(config: Any) -> str:
    """``kernel 'x'``, ``source 'x'`` or ``sink 'x'`` for a config."""
    role = "kernel"
    if isinstance(config, SourceConfig):
        role = "source"
    elif isinstance(config, SinkConfig):
        role = "sink"
    return f"{role} {getattr(config, 'name', '?')!r}"


def config_error(config: Any, field: str | None, problem: str) -> ConfigValidationError:
    """The error (returned, not raised) for ``field`` of a kernel, source or
    sink config: ``kernel 'x': field: problem``."""
    where = entry_label(config)
    if field:
        where = f"{where}: {field}"
    return ConfigValidationError(f"{where}: {problem}")


def parameter_error(config: Any, key: str, problem: str) -> ConfigValidationError:
    """The error for ``parameters.<key>``: ``kernel 'x': parameters.key: problem``."""
    return config_error(config, f"parameters.{key}", problem)
