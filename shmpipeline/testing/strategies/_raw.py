"""Raw-mapping strategies: valid pipelines in the form a YAML file holds
(:func:`pipeline_dicts`)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from hypothesis import strategies as st

from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.testing.strategies._pipelines import (
    DEFAULT_EXCLUDE,
    PipelineDraft,
    pipeline_drafts,
)
from shmpipeline.testing.strategies._streams import DEFAULT_DTYPES

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = ["pipeline_dicts", "raw_pipeline"]

# --- raw mappings -------------------------------------------------------------


@st.composite
def _raw_stream(draw: Any, spec: SharedMemoryConfig) -> dict[str, Any]:
    dtype = np.dtype(spec.dtype)
    raw: dict[str, Any] = {"name": spec.name}
    shape = [int(n) for n in spec.shape]
    raw["shape"] = shape[0] if len(shape) == 1 and draw(st.booleans()) else shape
    raw["dtype"] = draw(
        st.sampled_from((dtype.name, dtype.str, f"{dtype.kind}{dtype.itemsize}"))
    )
    storage = draw(st.sampled_from((None, "cpu", "CPU", "omit")))
    if storage != "omit":
        raw["storage"] = storage
    if draw(st.booleans()):
        raw["gpu_device"] = None
    return raw


@st.composite
def _raw_kernel(draw: Any, config: KernelConfig) -> dict[str, Any]:
    raw: dict[str, Any] = {"name": config.name, "kind": config.kind}
    if config.inputs:
        raw["inputs"] = list(config.inputs)
    else:
        raw["input"] = config.input
    raw["output"] = config.output
    if config.auxiliary:
        if all(b.alias == b.name for b in config.auxiliary) and draw(st.booleans()):
            raw["auxiliary"] = [b.name for b in config.auxiliary]
        else:
            raw["auxiliary"] = {b.alias: b.name for b in config.auxiliary}
    elif draw(st.booleans()):
        raw["auxiliary"] = draw(st.sampled_from((None, [], {})))
    if config.operation is not None:
        raw["operation"] = config.operation
    elif draw(st.booleans()):
        raw["operation"] = None
    if config.parameters:
        raw["parameters"] = copy.deepcopy(config.parameters)
    elif draw(st.booleans()):
        raw["parameters"] = draw(st.sampled_from((None, {})))
    for key, default in (("read_timeout", 1.0), ("pause_sleep", 0.01)):
        value = getattr(config, key)
        if value != default or draw(st.booleans()):
            raw[key] = value
    several = len(config.trigger_inputs) > 1
    if config.trigger_policy != ("all_new" if several else "any_new"):
        raw["trigger_policy"] = config.trigger_policy
    if config.synchronization is not None:
        raw["synchronization"] = config.synchronization.to_dict()
    if config.propagate_frame_id:
        raw["propagate_frame_id"] = True
    # key order is free in a mapping; vary it
    keys = draw(st.permutations(list(raw)))
    return {key: raw[key] for key in keys}


@st.composite
def raw_pipeline(draw: Any, draft: PipelineDraft) -> dict[str, Any]:
    """The mapping a YAML file of ``draft`` holds, in varied accepted
    spellings (shape ``4`` for ``[4]``, dtype ``'<f4'``, explicit nulls...)."""
    streams = [draw(_raw_stream(spec)) for spec in draft.streams]
    kernels = [draw(_raw_kernel(config)) for config in draft.kernels]
    return {"shared_memory": streams, "kernels": kernels}


def _raw_pairs(drafts: st.SearchStrategy[PipelineDraft]) -> st.SearchStrategy[Any]:
    @st.composite
    def pairs(draw: Any) -> tuple[dict[str, Any], PipelineDraft]:
        draft = draw(drafts)
        return draw(raw_pipeline(draft)), draft

    return pairs()


def pipeline_dicts(
    *,
    max_kernels: int = 5,
    min_kernels: int = 1,
    kinds: Sequence[str] | None = None,
    registry: KernelRegistry | None = None,
    kernel_builders: Mapping[str, Any] | None = None,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    max_dims: int = 3,
    max_side: int = 8,
    paired: bool = False,
) -> st.SearchStrategy[Any]:
    """Valid pipelines as raw mappings (the YAML form), in varied accepted
    spellings. With ``paired=True`` yields ``(raw, config)`` where ``config``
    is the :class:`PipelineConfig` that ``PipelineConfig.from_dict(raw)``
    must equal. Arguments as :func:`pipeline_configs`.

    Examples
    --------
    >>> from hypothesis import find
    >>> from shmpipeline.config import PipelineConfig
    >>> raw, config = find(pipeline_dicts(paired=True), lambda pair: True)
    >>> PipelineConfig.from_dict(raw) == config
    True
    """
    drafts = pipeline_drafts(
        min_kernels=min_kernels,
        max_kernels=max_kernels,
        kinds=kinds,
        registry=registry,
        kernel_builders=kernel_builders,
        exclude=exclude,
        dtypes=dtypes,
        max_dims=max_dims,
        max_side=max_side,
    )
    pairs = _raw_pairs(drafts)
    if paired:
        return pairs.map(lambda pair: (pair[0], pair[1].config()))
    return pairs.map(lambda pair: pair[0])
