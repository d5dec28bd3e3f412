"""validate_pipeline_config: every config, graph and kernel-binding error,
from a config object, a mapping or a YAML path."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from _pipeline_configs import ao_loop, clone, diamond, scale_pipeline

from shmpipeline.config import KernelConfig, PipelineConfig, SharedMemoryConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.graph import validate_pipeline_config


class RecordingRegistry:
    """A stand-in registry: records calls, fails kernels as told."""

    def __init__(self, failures: dict[str, BaseException] | None = None) -> None:
        self.failures = failures or {}
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.kinds: list[str] = []

    def get(self, kind: str) -> None:
        self.kinds.append(kind)
        if kind.startswith("bad."):
            raise ConfigValidationError(f"unknown kernel kind {kind!r}")

    def validate(self, config, shared_memory) -> None:
        self.calls.append((config.name, tuple(sorted(shared_memory))))
        failure = self.failures.get(config.name)
        if failure is not None:
            raise failure


def test_valid_config_calls_the_registry_for_each_kernel():
    registry = RecordingRegistry()
    config = PipelineConfig.from_dict(ao_loop())
    assert validate_pipeline_config(config, registry=registry) == []
    streams = tuple(sorted(s.name for s in config.shared_memory))
    assert registry.calls == [(k.name, streams) for k in config.kernels]


def test_kernel_errors_are_prefixed_with_index_and_name():
    registry = RecordingRegistry(
        {
            "flatten": ConfigValidationError("kernel 'flatten': output: wrong size"),
            "integrate": ConfigValidationError("parameters.leak: must be a number"),
            "clip": ConfigValidationError("kernels[4] 'clip': operation: bad"),
            "centroid": TypeError("boom"),
        }
    )
    errors = validate_pipeline_config(ao_loop(), registry=registry)
    assert errors == [
        "kernels[0] 'centroid': validation raised TypeError: boom",
        "kernels[1] 'flatten': output: wrong size",
        "kernels[3] 'integrate': parameters.leak: must be a number",
        "kernels[4] 'clip': operation: bad",
    ]


def test_config_and_kernel_errors_are_all_returned():
    data = ao_loop()
    data["shared_memory"][3]["dtype"] = "int"  # matrix
    data["kernels"][1]["input"] = "slope"  # unknown stream
    data["kernels"][3]["pause_sleep"] = 0  # bad field
    registry = RecordingRegistry(
        {"clip": ConfigValidationError("kernel 'clip': operation: nope")}
    )
    errors = validate_pipeline_config(data, registry=registry)
    assert errors == [
        "shared_memory[3] 'matrix': dtype: 'int' has no explicit width (it means "
        "'int64' here); write 'int64'",
        "kernels[3] 'integrate': pause_sleep: must be a positive finite number of "
        "seconds, got 0",
        "kernels[1] 'flatten': input: undefined shared memory 'slope' (did you mean "
        "'slopes', 'slopes_flat'?)",
        "kernels[4] 'clip': operation: nope",
    ]
    # flatten (unknown stream), reconstruct (invalid stream 'matrix') and
    # integrate (invalid entry) are not bound: their errors would be noise;
    # the kinds of the first two are still checked
    assert [name for name, _ in registry.calls] == ["centroid", "clip"]
    assert registry.kinds == ["cpu.flatten", "cpu.affine_transform"]
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_dict(data)
    assert list(info.value.errors) == errors[:3]


def test_kind_checked_for_kernels_on_broken_streams():
    data = scale_pipeline()
    data["shared_memory"][1]["dtype"] = "object"
    data["kernels"][0]["kind"] = "bad.kind"
    errors = validate_pipeline_config(data, registry=RecordingRegistry())
    assert errors[1:] == [
        "kernels[0] 'scale_stage': kind: unknown kernel kind 'bad.kind'"
    ]


def test_structural_failure_returns_the_config_errors():
    registry = RecordingRegistry()
    assert validate_pipeline_config([], registry=registry) == [
        "pipeline: must be a mapping with 'shared_memory' and 'kernels' lists, got []"
    ]
    assert registry.calls == []


def test_hand_built_config_is_rechecked_field_by_field():
    config = PipelineConfig(
        shared_memory=(
            SharedMemoryConfig("a", (4, 0), np.dtype("float32")),
            SharedMemoryConfig("b", (4,), np.dtype(object)),
            SharedMemoryConfig("c", (4,), np.dtype("float32"), storage="gpu"),
        ),
        kernels=(
            KernelConfig("k", "cpu.copy", "a", "b", read_timeout=-1.0),
            KernelConfig("k2", "cpu.copy", "c", "c"),
        ),
    )
    errors = validate_pipeline_config(config, registry=RecordingRegistry())
    assert errors == [
        "shared_memory[0] 'a': shape: dimension 1 must be a positive integer, got 0",
        "shared_memory[1] 'b': dtype: dtype('O') is not a numeric or bool dtype (|O)",
        "shared_memory[2] 'c': gpu_device: required for storage: gpu (e.g. 'cuda:0')",
        "kernels[0] 'k': read_timeout: must be a positive finite number of seconds, "
        "got -1.0",
        "kernels[1] 'k2': output: is the trigger input 'c'; a kernel cannot write the "
        "stream that triggers it",
    ]


def test_no_duplicates_between_graph_and_config_errors():
    config = PipelineConfig.from_dict(scale_pipeline())
    broken = PipelineConfig(
        config.shared_memory,
        config.kernels + (KernelConfig("again", "cpu.copy", "frame", "out"),),
    )
    errors = validate_pipeline_config(broken, registry=RecordingRegistry())
    assert errors == [
        "kernels[1] 'again': output: shared memory 'out' is already produced by "
        "kernels[0] 'scale_stage' (multiple producer kernels); a stream has at most one producer"
    ]


def test_yaml_path_errors_carry_file_and_line(tmp_path):
    data = ao_loop()
    data["kernels"][1]["input"] = "slope"
    path = tmp_path / "ao.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    registry = RecordingRegistry(
        {"clip": ConfigValidationError("kernel 'clip': operation: nope")}
    )
    errors = validate_pipeline_config(path, registry=registry)
    lines = path.read_text().splitlines()
    assert len(errors) == 2
    where, message = errors[0].split(": ", 1)
    assert message.startswith("kernels[1] 'flatten': input: undefined shared memory")
    line = int(where.rsplit(":", 1)[1])
    assert lines[line - 1].strip() == "input: slope"
    where, message = errors[1].split(": ", 1)
    assert message == "kernels[4] 'clip': operation: nope"
    line = int(where.rsplit(":", 1)[1])
    assert lines[line - 1].strip() == "- name: clip"  # the kernel entry
    assert validate_pipeline_config(str(path), registry=registry) == errors


def test_unloadable_yaml_path_is_one_error(tmp_path):
    missing = tmp_path / "missing.yaml"
    assert validate_pipeline_config(missing, registry=RecordingRegistry()) == [
        f"{missing}: config file not found"
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("kernels: [\n")
    (error,) = validate_pipeline_config(bad, registry=RecordingRegistry())
    assert error.startswith(f"{bad}:2: invalid YAML")


# --- with the real registry ------------------------------------------------------------------


@pytest.fixture
def registry():
    module = pytest.importorskip("shmpipeline.registry")
    return module.get_default_registry()


def test_default_registry_accepts_the_examples(registry):
    assert validate_pipeline_config(PipelineConfig.from_dict(ao_loop())) == []
    assert validate_pipeline_config(ao_loop(feedback=True)) == []
    assert validate_pipeline_config(scale_pipeline()) == []
    assert validate_pipeline_config(diamond(), registry=registry) == []


def test_default_registry_errors_are_all_reported(registry):
    data = ao_loop()
    data["kernels"][0]["parameters"]["tile_size"] = 5
    data["kernels"][2]["kind"] = "cpu.affine_transfrom"
    data["kernels"][4]["operation"] = "input / nothing"
    data["shared_memory"][5]["shape"] = [2.5]
    errors = validate_pipeline_config(data)
    assert len(errors) == 4, errors
    assert errors[0].startswith("shared_memory[5] 'residual': shape:")
    by_kernel = errors[1:]
    assert by_kernel[0].startswith("kernels[0] 'centroid': parameters.tile_size:")
    assert by_kernel[1].startswith("kernels[2] 'reconstruct': kind:")
    assert "cpu.affine_transform" in by_kernel[1]  # closest kinds suggested
    assert by_kernel[2].startswith("kernels[4] 'clip': operation:")
    assert validate_pipeline_config(clone(data), registry=registry) == errors
