"""Editable pipeline documents: plain mappings an editor loads, changes and saves.

A *document* is the YAML form of a pipeline as plain ``dict``/``list`` data,
always carrying the four sections ``shared_memory``, ``sources``, ``kernels``
and ``sinks`` (``namespace`` only when set). :func:`config_to_document` turns a
validated :class:`~shmpipeline.config.PipelineConfig` into one and
:func:`document_to_config` back, so ``config -> document -> config`` is the
identity. Files are read through :mod:`shmpipeline.user_files` and the
line-tracking loader (size cap, no special files, alias budget).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

from shmpipeline._problems import show
from shmpipeline._yaml import load_yaml_file, parse_yaml_text, plain
from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ConfigValidationError

__all__ = [
    "Document",
    "SECTIONS",
    "clone_document",
    "config_to_document",
    "default_document",
    "document_to_config",
    "document_to_yaml",
    "load_document",
    "normalize_document",
    "parse_inline_yaml",
    "save_document",
]

#: an editable pipeline document
Document = dict[str, Any]
#: the list sections every document carries, in file order
SECTIONS = ("shared_memory", "sources", "kernels", "sinks")


def default_document() -> Document:
    """An empty document (every section an empty list)."""
    return {section: [] for section in SECTIONS}


def clone_document(document: Mapping[str, Any]) -> Document:
    """A deep, independent, plain copy of ``document``."""
    return deepcopy(plain(dict(document)))


def normalize_document(document: Mapping[str, Any]) -> Document:
    """A copy of ``document`` with every section present (missing -> ``[]``)."""
    if not isinstance(document, Mapping):
        raise ConfigValidationError(
            f"pipeline document must be a mapping, got {show(document)}"
        )
    normalized = clone_document(document)
    for section in SECTIONS:
        if normalized.get(section) is None:
            normalized[section] = []
    return normalized


def load_document(path: str | os.PathLike[str]) -> Document:
    """Load a YAML pipeline file as a normalised document (not validated:
    an editor may open a half-written pipeline)."""
    raw, display, _ = load_yaml_file(path)
    if raw is None:
        return default_document()
    if not isinstance(raw, Mapping):
        raise ConfigValidationError(
            f"pipeline config must be a mapping, got {show(raw)}", path=display
        )
    return normalize_document(raw)


def document_to_yaml(document: Mapping[str, Any]) -> str:
    """Readable YAML of ``document`` (sections in file order)."""
    normalized = normalize_document(document)
    ordered = {key: normalized[key] for key in SECTIONS}
    ordered.update((k, v) for k, v in normalized.items() if k not in ordered)
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=False)


def save_document(path: str | os.PathLike[str], document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path`` as YAML."""
    Path(path).write_text(document_to_yaml(document), encoding="utf-8")


def parse_inline_yaml(text: str, *, fallback: Any) -> Any:
    """Parse a small YAML fragment typed into an editor field; blank or
    ``null`` gives a copy of ``fallback``."""
    if not text.strip():
        return deepcopy(fallback)
    value = parse_yaml_text(text)
    return deepcopy(fallback) if value is None else plain(value)


def config_to_document(config: PipelineConfig) -> Document:
    """The document of a validated config (defaults left out where they are
    implied, so an unchanged file round-trips to what it said)."""
    data = config.to_dict()
    document = default_document()
    for section in SECTIONS:
        document[section] = data.get(section, [])
    if config.namespace is not None:
        document["namespace"] = config.namespace
    return document


def document_to_config(
    document: Mapping[str, Any], *, base_path: str | os.PathLike[str] | None = None
) -> PipelineConfig:
    """Validate ``document`` into a :class:`PipelineConfig` (empty sections
    are dropped first, as a file without them would read)."""
    normalized = normalize_document(document)
    for section in ("sources", "sinks"):
        if not normalized[section]:
            del normalized[section]
    return PipelineConfig.from_dict(normalized, base_path=base_path)
