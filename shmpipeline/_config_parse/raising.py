"""Raising collected problems as one :class:`ConfigValidationError`."""

from __future__ import annotations

from typing import Any

from shmpipeline._problems import Problems
from shmpipeline._yaml import line_of
from shmpipeline.errors import ConfigValidationError

__all__ = ["raise_problems"]


def raise_problems(
    problems: Problems, raw: Any = None, path: str | None = None
) -> None:
    """Raise the collected problems (first as message, all in ``errors``)."""
    if not len(problems):
        return
    rendered: list[str] = []
    first_line: int | None = None
    for index, problem in enumerate(problems.items):
        line = line_of(raw, problem.loc) if path is not None else None
        if index == 0:
            first_line = line
        rendered.append(
            ConfigValidationError(problem.message, path=path, line=line).args[0]
        )
    raise ConfigValidationError(
        problems.items[0].message, path=path, line=first_line, errors=rendered
    )
