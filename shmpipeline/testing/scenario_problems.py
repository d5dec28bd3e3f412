"""Problems found in a scenario document, each located in its raw data.

Every part of the scenario parser (the document's fields, its pipeline, its
inputs) records what is wrong at a location (a path of keys and indices)
instead of raising at the first problem; :func:`raise_problems` then reports
all of them as one :class:`~shmpipeline.errors.ScenarioError`, in file order,
each with its line when the scenario came from a file.
"""

from __future__ import annotations

from typing import Any

from shmpipeline._problems import Loc, Problems
from shmpipeline._yaml import line_of
from shmpipeline.errors import ScenarioError

__all__ = ["PathProblem", "ScenarioProblems", "location_label", "raise_problems"]


class PathProblem(Exception):
    """A path the scenario names is refused (outside its folder, missing, not
    a regular file); the caller records it as a located problem."""


class ScenarioProblems(Problems):
    """Problems with a location in the raw scenario data."""

    def at(self, loc: Loc, problem: str) -> None:
        """Record ``problem`` at ``loc``, labelled ``inputs.wfs.synthetic``."""
        self.add(location_label(loc), None, problem, loc)


def location_label(loc: Loc) -> str:
    """``inputs.wfs`` / ``capture[2]``: a location as a message names it."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def raise_problems(problems: ScenarioProblems, raw: Any, display: str | None) -> None:
    """Raise one :class:`ScenarioError` listing every problem (the first as
    its message), located at its line in ``display`` when ``raw`` came from
    that file; return when there is none."""
    if not len(problems):
        return
    located = []
    for index, problem in enumerate(problems.items):
        line = line_of(raw, problem.loc) if display is not None else None
        located.append((line if line is not None else 0, index, problem.message, line))
    located.sort()  # in file order (collection order for a mapping)
    rendered = [
        ScenarioError(message, path=display, line=line).args[0]
        for _, _, message, line in located
    ]
    _, _, first_message, first_line = located[0]
    raise ScenarioError(first_message, path=display, line=first_line, errors=rendered)
