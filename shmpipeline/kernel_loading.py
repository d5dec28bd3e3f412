"""Where kernel classes come from: the built-in kinds and plugin entry points.

:data:`BUILTIN_KERNELS` lists every built-in kind once (module and class
stem); :func:`builtin_lazy_kernels` turns it into zero-argument loaders of
the ``cpu.*`` and ``gpu.*`` classes, so resolving one kind imports only that
kernel's module (GPU kinds import torch only when used).
:func:`discover_entry_points` lists, without importing them, the kernels
installed distributions advertise under ``shmpipeline.kernels``;
:func:`check_kernel_class` is the one test a class passes to be registered.
:class:`shmpipeline.registry.KernelRegistry` holds what these produce.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import warnings
from collections.abc import Callable
from typing import Any

from shmpipeline.errors import ConfigValidationError
from shmpipeline.kernel import Kernel

__all__ = [
    "BUILTIN_KERNELS",
    "ENTRY_POINT_GROUP",
    "builtin_lazy_kernels",
    "check_kernel_class",
    "discover_entry_points",
    "entry_point_label",
    "load_cpu_kernel",
    "load_gpu_kernel",
]

#: entry-point group third-party kernels are discovered from
ENTRY_POINT_GROUP = "shmpipeline.kernels"

#: built-in kind suffix -> (module under kernels/cpu and kernels/gpu, class stem)
BUILTIN_KERNELS: dict[str, tuple[str, str]] = {
    "copy": ("copy", "Copy"),
    "scale": ("scale", "Scale"),
    "add_constant": ("add_constant", "AddConstant"),
    "scale_offset": ("scale_offset", "ScaleOffset"),
    "elementwise_add": ("elementwise_add", "ElementwiseAdd"),
    "elementwise_subtract": ("elementwise_subtract", "ElementwiseSubtract"),
    "elementwise_multiply": ("elementwise_multiply", "ElementwiseMultiply"),
    "elementwise_divide": ("elementwise_divide", "ElementwiseDivide"),
    "flatten": ("flatten", "Flatten"),
    "reduce": ("reduce", "Reduce"),
    "affine_transform": ("affine_transform", "AffineTransform"),
    "leaky_integrator": ("leaky_integrator", "LeakyIntegrator"),
    "custom_operation": ("custom_operation", "CustomOperation"),
    "spot_centroid": ("spot_centroid", "SpotCentroid"),
    "shack_hartmann_centroid": ("shack_hartmann_centroid", "ShackHartmannCentroid"),
    # published alias of shack_hartmann_centroid
    "centroid": ("shack_hartmann_centroid", "ShackHartmannCentroid"),
    "raise_error": ("raise_error", "RaiseError"),
    "concatenate": ("concatenate", "Concatenate"),
    "tip_tilt_controller": ("tip_tilt_controller", "TipTiltController"),
    "tomographic_controller": ("tomographic_controller", "TomographicController"),
}

#: how to get the GPU kinds, appended to their load errors
GPU_HINT = "install the GPU extra: pip install 'shmpipeline[gpu]'"


# --- built-in loaders ----------------------------------------------------------


def load_cpu_kernel(kind: str, module: str, class_name: str) -> type[Kernel]:
    """Import one built-in CPU kernel class."""
    mod = importlib.import_module(f"shmpipeline.kernels.cpu.{module}")
    return getattr(mod, class_name)


def load_gpu_kernel(kind: str, module: str, class_name: str) -> type[Kernel]:
    """Import one built-in GPU kernel class (and torch with it)."""
    if importlib.util.find_spec("torch") is None:
        raise ConfigValidationError(
            f"kernel kind {kind!r} needs PyTorch, which is not installed; {GPU_HINT}"
        )
    name = f"shmpipeline.kernels.gpu.{module}"
    try:
        mod = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == "torch" or missing.startswith("torch."):
            raise ConfigValidationError(
                f"kernel kind {kind!r} needs PyTorch, which is not installed; {GPU_HINT}"
            ) from None
        if missing and name.startswith(missing):
            raise ConfigValidationError(
                f"kernel kind {kind!r} is not available: module {name} is missing "
                f"from this installation; {GPU_HINT}"
            ) from None
        raise ConfigValidationError(
            f"kernel kind {kind!r} failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    kernel_cls = getattr(mod, class_name, None)
    if kernel_cls is None:
        raise ConfigValidationError(
            f"kernel kind {kind!r} is not available: {name} defines no {class_name}"
        )
    return kernel_cls


def builtin_lazy_kernels() -> dict[str, Callable[[], type[Kernel]]]:
    """Return lazy loaders for every built-in ``cpu.*`` and ``gpu.*`` kind."""
    loaders: dict[str, Callable[[], type[Kernel]]] = {}
    for suffix, (module, stem) in BUILTIN_KERNELS.items():
        loaders[f"cpu.{suffix}"] = functools.partial(
            load_cpu_kernel, f"cpu.{suffix}", module, f"{stem}CpuKernel"
        )
        loaders[f"gpu.{suffix}"] = functools.partial(
            load_gpu_kernel, f"gpu.{suffix}", module, f"{stem}GpuKernel"
        )
    return loaders


# --- entry points ----------------------------------------------------------------


def discover_entry_points(group: str = ENTRY_POINT_GROUP) -> list[Any]:
    """Return the installed entry points of ``group`` (none imported)."""
    try:
        found = importlib.metadata.entry_points(group=group)
    except Exception as exc:  # broken metadata must not break the registry
        warnings.warn(
            f"could not read entry points of group {group!r}: {exc}",
            RuntimeWarning,
            stacklevel=2,
        )
        return []
    unique: dict[tuple[str, str], Any] = {}
    for entry_point in found:
        unique.setdefault((entry_point.name, entry_point.value), entry_point)
    return list(unique.values())


def entry_point_label(entry_point: Any) -> str:
    """How messages name an entry point (and its distribution, when known)."""
    label = f"entry point '{entry_point.name} = {entry_point.value}'"
    dist = getattr(entry_point, "dist", None)
    if dist is not None:
        try:
            label += f" of {dist.metadata['Name']} {dist.version}"
        except (KeyError, AttributeError, TypeError, OSError):
            pass  # unreadable distribution metadata: the label goes without it
    return label


def check_kernel_class(kernel_cls: Any) -> str:
    """Return the kind of a registrable kernel class, else raise."""
    if not isinstance(kernel_cls, type) or not issubclass(kernel_cls, Kernel):
        raise TypeError(f"expected a Kernel subclass, got {kernel_cls!r}")
    kind = getattr(kernel_cls, "kind", None)
    if not isinstance(kind, str) or not kind.strip() or kind != kind.strip():
        raise ValueError(
            f"{kernel_cls.__name__}.kind must be a non-empty string, got {kind!r}"
        )
    if inspect.isabstract(kernel_cls):
        missing = ", ".join(sorted(kernel_cls.__abstractmethods__))
        raise TypeError(
            f"{kernel_cls.__name__} is abstract (does not implement {missing})"
        )
    if getattr(kernel_cls, "storage", None) not in ("cpu", "gpu"):
        raise ValueError(
            f"{kernel_cls.__name__}.storage must be 'cpu' or 'gpu', "
            f"got {getattr(kernel_cls, 'storage', None)!r}"
        )
    return kind
