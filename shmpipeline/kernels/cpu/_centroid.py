"""Validation shared by the centroid kernels (CPU and GPU twins)."""

from __future__ import annotations

import numpy as np

from shmpipeline.kernels import _validation as v


def check_centroid_streams(config, shared_memory) -> None:
    """2-D real input; output floating or of the input's dtype."""
    source = shared_memory[config.input]
    target = shared_memory[config.output]
    v.require_ndim(config, "input", source, 2)
    v.require_dtype_kind(config, "input", source, "real")
    out_dtype = np.dtype(target.dtype)
    if out_dtype.kind != "f" and out_dtype != np.dtype(source.dtype):
        raise v.error(
            config,
            "output",
            f"stream {target.name!r} must have a floating dtype (or the input's "
            f"dtype {np.dtype(source.dtype).name}), got {out_dtype.name}",
        )
