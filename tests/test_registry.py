"""``shmpipeline.registry``: built-in and lazy GPU kinds, unknown-kind
suggestions, register/extended, validate/create error wrapping, and
third-party kernels from the ``shmpipeline.kernels`` entry-point group."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
from _kernel_support import kconf, run, spec, specs

import shmpipeline.registry as registry_module
from shmpipeline.errors import ConfigValidationError
from shmpipeline.kernel import Kernel, KernelContext
from shmpipeline.kernel_loading import load_gpu_kernel
from shmpipeline.kernels import cpu
from shmpipeline.registry import KernelRegistry, get_default_registry

SUFFIXES = [
    "add_constant",
    "affine_transform",
    "centroid",
    "concatenate",
    "copy",
    "custom_operation",
    "elementwise_add",
    "elementwise_divide",
    "elementwise_multiply",
    "elementwise_subtract",
    "flatten",
    "leaky_integrator",
    "raise_error",
    "reduce",
    "scale",
    "scale_offset",
    "shack_hartmann_centroid",
    "spot_centroid",
    "tip_tilt_controller",
    "tomographic_controller",
]


class Double(Kernel):
    kind = "test.double"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        np.multiply(trigger_input, 2, out=output)


class Triple(Double):
    kind = "test.triple"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        np.multiply(trigger_input, 3, out=output)


UNARY = specs(spec("in", (3,)), spec("out", (3,)))


# --- default registry ------------------------------------------------------------


def test_default_registry_lists_cpu_and_gpu_kinds_sorted():
    kinds = get_default_registry().kinds()
    expected = sorted([f"cpu.{s}" for s in SUFFIXES] + [f"gpu.{s}" for s in SUFFIXES])
    assert [k for k in kinds if k.split(".")[0] in ("cpu", "gpu")] == expected
    assert list(kinds) == sorted(kinds)
    assert get_default_registry() is get_default_registry()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_cpu_kind_resolves_to_its_class(suffix):
    kernel_cls = get_default_registry().get(f"cpu.{suffix}")
    assert kernel_cls in [getattr(cpu, name) for name in cpu.__all__]
    if suffix != "centroid":
        assert kernel_cls.kind == f"cpu.{suffix}"


def test_listing_kinds_imports_neither_torch_nor_kernel_modules():
    code = textwrap.dedent(
        """
        import sys
        from shmpipeline.registry import get_default_registry
        kinds = get_default_registry().kinds()
        assert "gpu.scale" in kinds and "gpu.custom_operation" in kinds, kinds
        assert "torch" not in sys.modules
        assert not [m for m in sys.modules if m.startswith("shmpipeline.kernels.cpu")]
        get_default_registry().get("cpu.scale")
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_gpu_kind_without_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> not found
    registry = registry_module._build_default_registry()
    with pytest.raises(ConfigValidationError) as info:
        registry.get("gpu.scale")
    message = str(info.value)
    assert "'gpu.scale' needs PyTorch" in message
    assert "pip install 'shmpipeline[gpu]'" in message
    with pytest.raises(
        ConfigValidationError, match=r"kernel 'stage': kind: .*shmpipeline\[gpu\]"
    ):
        registry.validate(kconf("gpu.scale", factor=2), UNARY)


def test_gpu_loader_reports_a_missing_module():
    pytest.importorskip("torch", reason="without torch the install hint comes first")
    with pytest.raises(ConfigValidationError, match="missing from this installation"):
        load_gpu_kernel(
            "gpu.nothing", "no_such_module_xyz", "NothingGpuKernel"
        )


# --- unknown kinds ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("cpu.scal", "closest known kinds: cpu.scale"),
        ("cpu.afine_transform", "closest known kinds: cpu.affine_transform"),
        ("scale", "cpu.scale"),
        ("leaky_integrator", "cpu.leaky_integrator, gpu.leaky_integrator"),
        ("zzzzzz", "list them with 'shmpipeline kinds'"),
    ],
)
def test_unknown_kind_lists_closest_known_kinds(kind, expected):
    with pytest.raises(ConfigValidationError) as info:
        get_default_registry().get(kind)
    message = str(info.value)
    assert message.startswith(f"unknown kernel kind {kind!r}")
    assert expected in message


def test_non_string_kind_is_a_validation_error():
    with pytest.raises(ConfigValidationError, match="must be a string"):
        get_default_registry().get(3)  # type: ignore[arg-type]


# --- register / extended ---------------------------------------------------------


def test_register_replace_and_errors():
    registry = KernelRegistry({})
    registry.register(Double)
    assert registry.get("test.double") is Double
    assert registry.kinds() == ("test.double",)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Double)
    replacement = type("Double2", (Double,), {"kind": "test.double"})
    registry.register(replacement, replace=True)
    assert registry.get("test.double") is replacement
    with pytest.raises(TypeError):
        registry.register(object)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="abstract"):
        registry.register(type("Abstract", (Kernel,), {"kind": "test.abstract"}))
    with pytest.raises(ValueError, match="non-empty string"):
        registry.register(type("NoKind", (Double,), {"kind": ""}))
    with pytest.raises(ValueError, match="storage"):
        registry.register(
            type("Tpu", (Double,), {"kind": "test.tpu", "storage": "tpu"})
        )


def test_register_can_replace_a_lazy_builtin():
    registry = registry_module._build_default_registry()
    custom = type("MyScale", (Double,), {"kind": "cpu.scale"})
    with pytest.raises(ValueError):
        registry.register(custom)
    registry.register(custom, replace=True)
    assert registry.get("cpu.scale") is custom
    assert get_default_registry().get("cpu.scale") is cpu.ScaleCpuKernel


def test_extended_returns_an_independent_copy():
    base = KernelRegistry(
        {"test.double": Double}, {"cpu.copy": lambda: cpu.CopyCpuKernel}
    )
    bigger = base.extended(Triple)
    assert "test.triple" in bigger.kinds() and "test.triple" not in base.kinds()
    bigger.register(type("Other", (Double,), {"kind": "test.other"}))
    assert "test.other" not in base.kinds()
    base.register(type("Late", (Double,), {"kind": "test.late"}))
    assert "test.late" not in bigger.kinds()
    assert bigger.get("cpu.copy") is cpu.CopyCpuKernel  # lazy entries carried over
    with pytest.raises(ValueError):
        base.extended(type("Dup", (Double,), {"kind": "test.double"}))
    replaced = base.extended(
        type("Dup", (Double,), {"kind": "test.double"}), replace=True
    )
    assert replaced.get("test.double") is not Double
    assert base.get("test.double") is Double


def test_default_registry_extended_keeps_builtins():
    registry = get_default_registry().extended(Double)
    assert registry.get("cpu.scale") is cpu.ScaleCpuKernel
    assert registry.get("test.double") is Double
    with pytest.raises(ConfigValidationError):
        get_default_registry().get("test.double")


def test_lazy_loader_failures_become_validation_errors():
    def broken():
        raise ImportError("no module named foo")

    registry = KernelRegistry({}, {"x.broken": broken, "x.notkernel": lambda: int})
    with pytest.raises(
        ConfigValidationError, match="'x.broken' failed to load: ImportError"
    ):
        registry.get("x.broken")
    with pytest.raises(ConfigValidationError, match="'x.notkernel' is unusable"):
        registry.get("x.notkernel")


def test_registry_pickles_for_spawned_workers():
    registry = registry_module._build_default_registry()
    clone = pickle.loads(pickle.dumps(registry))
    assert clone.kinds() == registry.kinds()
    assert clone.get("cpu.scale") is cpu.ScaleCpuKernel


# --- validate / create -------------------------------------------------------------


def test_validate_prefixes_kernel_and_kind_on_unknown_kind():
    with pytest.raises(ConfigValidationError) as info:
        get_default_registry().validate(kconf("cpu.scal", name="scale_stage"), UNARY)
    assert str(info.value).startswith(
        "kernel 'scale_stage': kind: unknown kernel kind 'cpu.scal'; closest known kinds: cpu.scale"
    )


class Crashing(Double):
    kind = "test.crashing"

    @classmethod
    def validate_config(cls, config, shared_memory):
        return shared_memory["missing"]  # KeyError: a bug in a plugin


class Terse(Double):
    kind = "test.terse"

    @classmethod
    def validate_config(cls, config, shared_memory):
        raise ConfigValidationError("gain must be positive")


def test_validate_wraps_third_party_exceptions():
    registry = KernelRegistry({"test.crashing": Crashing, "test.terse": Terse})
    with pytest.raises(ConfigValidationError) as info:
        registry.validate(kconf("test.crashing", name="plug"), UNARY)
    message = str(info.value)
    assert message.startswith(
        "kernel 'plug': kind 'test.crashing': validate_config raised KeyError"
    )
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(ConfigValidationError) as info:
        registry.validate(kconf("test.terse", name="plug"), UNARY)
    assert str(info.value) == "kernel 'plug': gain must be positive"


def test_create_validates_then_instantiates():
    registry = get_default_registry()
    kernel = registry.create(kconf("cpu.scale", factor=4), UNARY)
    assert isinstance(kernel, cpu.ScaleCpuKernel)
    np.testing.assert_array_equal(
        run(kernel, np.array([1.0, 2.0, 3.0])), [4.0, 8.0, 12.0]
    )
    with pytest.raises(ConfigValidationError, match="parameters.factor"):
        registry.create(kconf("cpu.scale"), UNARY)


def test_create_from_context_keeps_the_context(tmp_path):
    context = KernelContext(kconf("cpu.copy"), UNARY, tmp_path)
    kernel = get_default_registry().create_from_context(context)
    assert kernel.context is context
    assert kernel.context.config_base_dir == tmp_path


def test_create_takes_the_config_base_dir_like_the_published_package(tmp_path, monkeypatch):
    registry = get_default_registry()
    kernel = registry.create(kconf("cpu.copy"), UNARY, config_base_dir=tmp_path / ".")
    assert kernel.context.config_base_dir == tmp_path.resolve()
    monkeypatch.chdir(tmp_path)
    assert registry.create(kconf("cpu.copy"), UNARY).context.config_base_dir == tmp_path.resolve()


# --- entry-point plugins -------------------------------------------------------------


def _install_fake_distribution(
    root: Path, entries: dict[str, str], modules: dict[str, str]
) -> None:
    dist = root / f"fakeplugin_{uuid.uuid4().hex[:8]}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fakeplugin\nVersion: 1.0\n"
    )
    lines = ["[shmpipeline.kernels]"] + [
        f"{name} = {target}" for name, target in entries.items()
    ]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def plugin_env(tmp_path, monkeypatch):
    """A fake installed distribution advertising plugin kernels, with unique
    module names so parallel or repeated tests never share sys.modules."""
    tag = uuid.uuid4().hex[:8]
    good, bad = f"fake_kernels_{tag}", f"fake_broken_{tag}"
    source = """
        import numpy as np
        from shmpipeline.kernel import Kernel

        class Quad(Kernel):
            kind = "plugin.quad"
            def compute_into(self, trigger_input, output, auxiliary_inputs):
                np.multiply(trigger_input, 4, out=output)

        class Neg(Kernel):
            kind = "plugin.neg"
            def compute_into(self, trigger_input, output, auxiliary_inputs):
                np.negative(trigger_input, out=output)

        class Half(Kernel):
            kind = "plugin.half"
            def compute_into(self, trigger_input, output, auxiliary_inputs):
                np.multiply(trigger_input, 0.5, out=output)

        class FakeScale(Kernel):
            kind = "cpu.scale"
            def compute_into(self, trigger_input, output, auxiliary_inputs):
                pass

        BUNDLE = [Neg, Half]
        NOT_A_KERNEL = 42

        def factory():
            return Neg
    """
    _install_fake_distribution(
        tmp_path,
        {
            "plugin.quad": f"{good}:Quad",
            "bundle": f"{good}:BUNDLE",
            "factory": f"{good}:factory",
            "broken": f"{bad}:Anything",
            "notkernel": f"{good}:NOT_A_KERNEL",
            "hijack": f"{good}:FakeScale",
        },
        {good: source, bad: "raise ImportError('plugin dependency missing')\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield good, bad
    for name in (good, bad):
        sys.modules.pop(name, None)


def test_plugin_kind_named_by_its_entry_point_loads_alone(plugin_env):
    good, bad = plugin_env
    registry = registry_module._build_default_registry()
    quad = registry.get("plugin.quad")
    assert quad.kind == "plugin.quad"
    assert bad not in sys.modules  # other entry points were not imported
    kernel = registry.create(kconf("plugin.quad"), UNARY)
    np.testing.assert_array_equal(
        run(kernel, np.array([1.0, 2.0, 3.0])), [4.0, 8.0, 12.0]
    )


def test_plugin_lists_and_broken_plugins_are_reported_not_fatal(plugin_env):
    registry = registry_module._build_default_registry()
    with pytest.warns(RuntimeWarning) as warned:
        kinds = registry.kinds()
    assert {"plugin.quad", "plugin.neg", "plugin.half"} <= set(kinds)
    assert "cpu.scale" in kinds
    errors = registry.plugin_errors
    assert any(
        "broken" in e and "ImportError: plugin dependency missing" in e for e in errors
    )
    assert any("notkernel" in e and "expected a Kernel subclass" in e for e in errors)
    assert any(
        "hijack" in e and "'cpu.scale' is already registered" in e for e in errors
    )
    assert any("fakeplugin 1.0" in e for e in errors)
    assert len(warned) >= 3
    assert registry.get("cpu.scale") is cpu.ScaleCpuKernel  # built-ins win
    with pytest.raises(ConfigValidationError) as info:
        registry.get("plugin.nothing")
    assert "kernel plugin(s) failed to load" in str(info.value)


def test_plugin_kind_from_a_bundle_is_found_on_demand(plugin_env):
    registry = registry_module._build_default_registry()
    with pytest.warns(RuntimeWarning):
        half = registry.get("plugin.half")
    kernel = registry.create(kconf("plugin.half"), UNARY)
    assert isinstance(kernel, half)
    np.testing.assert_array_equal(
        run(kernel, np.array([2.0, 4.0, 6.0])), [1.0, 2.0, 3.0]
    )


def test_registry_with_pending_plugins_pickles_and_extends(plugin_env):
    registry = registry_module._build_default_registry()
    clone = pickle.loads(pickle.dumps(registry))
    assert clone.get("plugin.quad").kind == "plugin.quad"
    bigger = registry.extended(Double)
    assert bigger.get("plugin.quad").kind == "plugin.quad"
