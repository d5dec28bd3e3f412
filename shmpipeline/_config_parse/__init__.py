"""Parsing raw pipeline data into the config models, collecting every problem.

:mod:`shmpipeline.config` holds the frozen models; this package turns a raw
mapping (YAML-loaded or built in code) into them. Each parser returns the
value (or ``None``) and records a :class:`~shmpipeline._problems.Problem` for
everything wrong, so that one pass reports all problems with their location.

One module per concept: :mod:`.fields` (field parsers every entry shares),
:mod:`.streams`, :mod:`.kernels` and :mod:`.endpoints` (one entry each),
:mod:`.wiring` (the parsed wiring of a node and the rules across entries),
:mod:`.pipeline` (the whole document) and :mod:`.raising` (problems to one
error). This face re-exports what the rest of the package uses.
"""

from shmpipeline._config_parse.endpoints import endpoint_from_dict, parse_endpoint_entry
from shmpipeline._config_parse.kernels import parse_kernel_entry
from shmpipeline._config_parse.pipeline import (
    ParsedPipeline,
    parse_pipeline_checked,
    raw_from_config,
)
from shmpipeline._config_parse.raising import parse_alone, raise_problems
from shmpipeline._config_parse.streams import MAX_NDIM, parse_stream_entry
from shmpipeline._config_parse.wiring import (
    KernelWiring,
    cross_entry_problems,
    kernel_wiring_problems,
    producer_problems,
)

__all__ = [
    "KernelWiring",
    "MAX_NDIM",
    "ParsedPipeline",
    "cross_entry_problems",
    "endpoint_from_dict",
    "kernel_wiring_problems",
    "parse_endpoint_entry",
    "parse_alone",
    "parse_kernel_entry",
    "parse_pipeline_checked",
    "parse_stream_entry",
    "producer_problems",
    "raise_problems",
    "raw_from_config",
]
