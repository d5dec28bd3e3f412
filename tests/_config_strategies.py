"""Hypothesis strategies for pipeline configs: arbitrary YAML-like data,
plausible-but-wrong pipelines, and valid pipelines."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

KNOWN_KEYS = [
    "shared_memory",
    "kernels",
    "name",
    "shape",
    "dtype",
    "storage",
    "gpu_device",
    "cpu_mirror",
    "kind",
    "input",
    "output",
    "auxiliary",
    "operation",
    "parameters",
    "read_timeout",
    "pause_sleep",
    "sources",
    "poll_interval",
]
WORDS = [
    "frame",
    "out",
    "a",
    "b",
    "input",
    "float32",
    "float",
    "O",
    ">f4",
    "cpu",
    "gpu",
    "GPU",
    "cuda:0",
    "cpu.scale",
    "cpu.copy",
    "",
    " ",
    "1e-3",
    "a b",
    "lambda",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-3, max_value=70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 2.7, 10**400]),
    st.text(max_size=10),
    st.sampled_from(WORDS),
)
keys = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.sampled_from(WORDS),
    st.text(max_size=6),
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
)

#: arbitrary nested YAML-like data
yaml_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=25,
)


def _maybe(plausible: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(plausible, plausible, plausible, yaml_like)


stream_names = st.sampled_from(["frame", "out", "a", "b", "c", "g", "frame "])
plausible_stream = st.fixed_dictionaries(
    {},
    optional={
        "name": _maybe(stream_names),
        "shape": _maybe(
            st.lists(st.integers(min_value=-1, max_value=8), min_size=0, max_size=3)
        ),
        "dtype": _maybe(st.sampled_from(["float32", "f8", "uint8", "bool", "float"])),
        "storage": _maybe(st.sampled_from(["cpu", "gpu", "CPU"])),
        "gpu_device": _maybe(st.sampled_from(["cuda:0", "cuda", None])),
        "cpu_mirror": _maybe(st.booleans()),
    },
)
plausible_aux = st.one_of(
    st.lists(stream_names, max_size=3),
    st.dictionaries(st.sampled_from(["g", "m", "input", "1x", "a"]), stream_names),
)
plausible_kernel = st.fixed_dictionaries(
    {},
    optional={
        "name": _maybe(st.sampled_from(["k1", "k2", "k3"])),
        "kind": _maybe(
            st.sampled_from(["cpu.scale", "cpu.copy", "cpu.custom_operation"])
        ),
        "input": _maybe(stream_names),
        "output": _maybe(stream_names),
        "auxiliary": _maybe(plausible_aux),
        "operation": _maybe(st.sampled_from(["input * 2", "input + g", "x"])),
        "parameters": _maybe(
            st.dictionaries(st.sampled_from(["factor", "constant", "x"]), scalars)
        ),
        "read_timeout": _maybe(st.floats(min_value=-1, max_value=2)),
        "pause_sleep": _maybe(st.floats(min_value=-1, max_value=2)),
    },
)
#: pipeline-shaped mappings whose fields are mostly plausible, sometimes junk
plausible_pipeline = st.fixed_dictionaries(
    {},
    optional={
        "shared_memory": _maybe(st.lists(_maybe(plausible_stream), max_size=4)),
        "kernels": _maybe(st.lists(_maybe(plausible_kernel), max_size=3)),
        "extra": yaml_like,
    },
)

DTYPES = ["float32", "float64", "int16", "uint8", "bool", "complex64", "f4", "<i8"]
IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)


@st.composite
def valid_pipelines(draw) -> dict[str, Any]:
    """A valid pipeline mapping (kinds are not checked: graph/config only)."""
    names = draw(st.lists(IDENT, min_size=2, max_size=8, unique=True))
    streams = []
    for name in names:
        entry: dict[str, Any] = {
            "name": name,
            "shape": draw(st.lists(st.integers(1, 9), min_size=1, max_size=3)),
            "dtype": draw(st.sampled_from(DTYPES)),
        }
        if draw(st.booleans()):
            entry["storage"] = "gpu"
            entry["gpu_device"] = draw(st.sampled_from(["cuda", "cuda:0", "cuda:1"]))
            if draw(st.booleans()):
                entry["cpu_mirror"] = draw(st.booleans())
        streams.append(entry)
    outputs = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    kernels = []
    for index, output in enumerate(outputs):
        candidates = [n for n in names if n != output]
        trigger = draw(st.sampled_from(candidates))
        rest = [n for n in candidates if n != trigger]
        aux = (
            draw(st.lists(st.sampled_from(rest), unique=True, max_size=3))
            if rest
            else []
        )
        entry = {
            "name": f"k{index}",
            "kind": draw(st.sampled_from(["cpu.copy", "cpu.scale", "my.kind"])),
            "input": trigger,
            "output": output,
        }
        if aux:
            if draw(st.booleans()):
                entry["auxiliary"] = aux
            else:
                entry["auxiliary"] = {f"x{j}": n for j, n in enumerate(aux)}
        if draw(st.booleans()):
            entry["parameters"] = draw(
                st.dictionaries(
                    IDENT,
                    st.one_of(
                        st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
                    ),
                    max_size=3,
                )
            )
        if draw(st.booleans()):
            entry["operation"] = "input * 2"
        if draw(st.booleans()):
            entry["read_timeout"] = draw(st.floats(min_value=1e-6, max_value=10))
        kernels.append(entry)
    return {"shared_memory": streams, "kernels": kernels}
