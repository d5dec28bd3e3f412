"""Hypothesis strategies for shmpipeline configurations (public API).

Property tests of a pipeline project need configs that vary: streams of
assorted shapes and dtypes, kernels wired the way each kind requires, whole
pipelines, and broken pipelines paired with the error they must produce. This
module generates all four. Importing it imports :mod:`hypothesis` (install
``shmpipeline[test]``); ``import shmpipeline.testing`` alone does not.

The package is a face over family modules: ``_streams`` (stream specs),
``_slots`` (the builder protocol), ``_builders`` (the built-in builder table
and the draws builders share), ``_array_kinds`` and ``_wavefront_kinds``
(the built-in builders by family), ``_kernels`` (:func:`kernel_configs`,
kind -> builder lookup), ``_expressions`` (custom_operation expression
trees), ``_pipelines`` (valid DAGs), ``_raw`` (YAML-form mappings),
``_defects`` (one mutator per defect) and ``_invalid`` (one-defect
pipelines).

Strategies
----------
- :func:`stream_configs` -> :class:`~shmpipeline.config.SharedMemoryConfig`
  (identifier names, small shapes, dtypes from :data:`DEFAULT_DTYPES`, cpu).
- :func:`kernel_configs` ``(kind)`` -> :class:`KernelSetup`: one kernel config
  obeying the kind's arity, shape, dtype and parameter rules, plus the specs
  of every stream it binds (trigger first, auxiliaries, output last).
- :func:`pipeline_configs` -> valid :class:`~shmpipeline.config.PipelineConfig`
  DAGs, built in topological order: each kernel's trigger is an existing
  stream (a source or an earlier kernel's output), its output a new stream,
  its auxiliaries sources or earlier outputs. Failures shrink towards short
  chains of ``cpu.copy``. ``cpu.raise_error`` and the fan-in
  ``cpu.concatenate`` are excluded by default (``kinds=[...]`` draws them).
- :func:`pipeline_dicts` -> the same pipelines as raw mappings (what a YAML
  file holds), written in the accepted variant spellings (shape ``4`` for
  ``[4]``, dtype ``'<f4'``, ``storage: CPU``, list or mapping auxiliaries,
  explicit nulls); ``paired=True`` yields ``(raw, config)``.
- :func:`invalid_pipeline_configs` -> :class:`InvalidPipeline` pairs
  ``(raw, expected)``: a valid pipeline with exactly one defect (undefined
  stream, duplicate producer, shape or dtype mismatch, bad or unknown
  parameter, wrong auxiliary count, unknown key at any level, bad shape
  literal, bad or missing dtype, unknown kind, duplicate names, gpu_device on
  a cpu stream, trigger == output...). ``expected`` is a tuple of fragments
  that appear together in one error message; they always name the entry
  (``kernels[2] 'k2'``) and the field. Use :func:`find_error` to look for it.

Usage::

    from hypothesis import given
    from shmpipeline.config import PipelineConfig
    from shmpipeline.pipeline_validation import validate_pipeline_config
    from shmpipeline.registry import get_default_registry
    from shmpipeline.testing import strategies as sps

    @given(sps.pipeline_configs(max_kernels=4))
    def test_valid_pipelines_validate(config):
        assert validate_pipeline_config(config) == []

    @given(sps.pipeline_configs())
    def test_round_trip(config):
        assert PipelineConfig.from_dict(config.to_dict()) == config

    @given(sps.invalid_pipeline_configs())
    def test_invalid_pipelines_fail(case):
        raw, expected = case
        assert sps.find_error(validate_pipeline_config(raw), expected)

    @given(sps.kernel_configs("cpu.affine_transform"))
    def test_affine_builds(setup):
        get_default_registry().create(setup.config, setup.shared_memory)

Defects found while parsing (see :data:`DEFECTS`; all but the graph rule
``duplicate_producer`` and the kernel-rule ones ``shape_mismatch``,
``dtype_mismatch``, ``bad_parameter``, ``unknown_parameter``,
``bad_operation``, ``wrong_arity`` and ``unknown_kind``) also make
``PipelineConfig.from_dict(raw)`` raise, with the expected message among
``exc.errors``; ``defects=[...]`` restricts the mix.

Your own kernel kinds
---------------------
Every strategy takes ``registry`` (``None`` means the default registry) and
``kernel_builders``, a mapping ``kind -> builder`` for kinds this module does
not know. A builder is a callable ``builder(slot) -> SearchStrategy[KernelDraft]``
(or a :class:`KernelBuilder` adding which trigger streams the kind accepts
and how to make a fresh one). The :class:`KernelSlot` it receives holds the
kernel's name and kind, the chosen trigger stream, the name its output must
have and the streams it may reuse as auxiliaries, with helpers to build the
config (``slot.kernel``), the output spec (``slot.output``) and auxiliary
streams, reused or new (``slot.auxiliary``; list them in
``KernelDraft.auxiliary``)::

    from hypothesis import strategies as st

    def gain_builder(slot):
        return st.floats(-2, 2).map(
            lambda g: sps.KernelDraft(
                slot.kernel(parameters={"gain": g}), slot.output()
            )
        )

    registry = get_default_registry().extended(AcmeGainKernel)
    pipelines = sps.pipeline_configs(
        registry=registry,
        kernel_builders={
            "acme.gain": sps.KernelBuilder(
                gain_builder, accepts=lambda s: s.dtype.kind == "f"
            )
        },
    )

With ``kinds=None`` a pipeline mixes every built-in ``cpu.*`` kind the
registry holds with the kinds of ``kernel_builders``; pass ``kinds=[...]`` to
choose. Builders of the built-in kinds are in :data:`BUILTIN_BUILDERS`; they read
each kernel class's declared parameters (``parameter_specs``) and arities, so
a new built-in kind needs its kernel module per backend and one builder
registered with ``builtin_builder`` in its family module (``_array_kinds``
or ``_wavefront_kinds``).
Invalid-config cases that depend on a kind's own messages (shape, dtype,
parameter and arity errors) target built-in kernels only; the structural
ones apply to every kernel.
"""

from shmpipeline.testing.strategies._invalid import (
    BAD_SHAPES,
    DEFECTS,
    InvalidPipeline,
    find_error,
    invalid_pipeline_configs,
)
from shmpipeline.testing.strategies._kernels import BUILTIN_BUILDERS, kernel_configs
from shmpipeline.testing.strategies._pipelines import pipeline_configs
from shmpipeline.testing.strategies._raw import pipeline_dicts
from shmpipeline.testing.strategies._slots import (
    KernelBuilder,
    KernelDraft,
    KernelSetup,
    KernelSlot,
)
from shmpipeline.testing.strategies._streams import (
    DEFAULT_DTYPES,
    Limits,
    shapes,
    stream_configs,
    stream_names,
)

__all__ = [
    "BAD_SHAPES",
    "BUILTIN_BUILDERS",
    "DEFAULT_DTYPES",
    "DEFECTS",
    "InvalidPipeline",
    "KernelBuilder",
    "KernelDraft",
    "KernelSetup",
    "KernelSlot",
    "Limits",
    "find_error",
    "invalid_pipeline_configs",
    "kernel_configs",
    "pipeline_configs",
    "pipeline_dicts",
    "shapes",
    "stream_configs",
    "stream_names",
]

_public = {name for name in dir() if name[0] not in "_@"}
assert set(__all__) == _public, sorted(set(__all__) ^ _public)
del _public
