"""Raising collected problems as one :class:`ConfigValidationError`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from shmpipeline._problems import Problems
from shmpipeline._yaml import line_of
from shmpipeline.errors import ConfigValidationError

__all__ = ["parse_alone", "raise_problems"]

_T = TypeVar("_T")


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


def parse_alone(parse: Callable[[Problems], _T | None], where: str) -> _T:
    """Run ``parse(problems)`` on a fresh collection and return its value, or
    raise everything it recorded (data nested too deeply is one more problem
    at ``where``): how one entry is built from a mapping on its own."""
    problems = Problems()
    try:
        value = parse(problems)
    except RecursionError:
        problems.add(where, None, "data is nested too deeply", ())
        value = None
    raise_problems(problems)
    assert value is not None
    return value
