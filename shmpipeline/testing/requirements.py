"""What a scenario needs from the machine it runs on, and whether it is here.

A scenario whose needs are not met is *skipped with its reason* (by the
pytest plugin and by ``shmpipeline scenario list|run``), never reported as
invalid: a CI job without torch or a GPU must still pass. The needs are

- ``gpu`` declared in ``requirements``, or implied by a ``storage: gpu``
  stream on a CUDA device: a CUDA device (probed in a subprocess, see
  :mod:`shmpipeline.testing.gpu_probe`);
- ``torch`` declared, or implied by any ``gpu.*`` kernel kind: PyTorch
  installed;
- ``kind:NAME`` declared: kernel kind ``NAME`` is registered (a plugin
  distribution installed). An undeclared unknown kind stays a validation
  error, so a typo is never silently skipped.

The checks read the raw YAML only, so they work where the scenario cannot
even be validated (a ``gpu.*`` kind without torch).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shmpipeline.testing.scenario_files import quick_load

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "NAMED_REQUIREMENTS",
    "UnmetRequirement",
    "cuda_streams",
    "declared_requirements",
    "on_cuda",
    "declared_needs",
    "pipeline_kinds",
    "torch_installed",
    "unmet_for_file",
    "unmet_requirements",
]

#: Requirement names accepted in a scenario's ``requirements`` list
#: (besides ``kind:NAME``).
NAMED_REQUIREMENTS = ("gpu", "torch")
KIND_PREFIX = "kind:"


@dataclass(frozen=True)
class UnmetRequirement:
    """One need of a scenario this machine does not meet.

    ``need`` is ``gpu``, ``torch`` or ``kind:NAME``; ``reason`` says why it
    is unmet; ``hardware`` is true for needs ``--require-gpu`` turns into a
    failure (a GPU, or the torch a GPU needs).
    """

    need: str
    reason: str

    @property
    def hardware(self) -> bool:
        return self.need in ("gpu", "torch")

    def format(self) -> str:
        """``needs gpu: no CUDA device ...``."""
        return f"needs {self.need}: {self.reason}"


def declared_needs(raw: Any) -> tuple[str, ...]:
    """The recognised entries of a raw scenario's ``requirements`` (lower
    case for named ones; ``kind:NAME`` keeps the kind's spelling)."""
    value = raw.get("requirements") if isinstance(raw, Mapping) else None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return ()
    found: list[str] = []
    for item in items:
        if not isinstance(item, str):
            continue
        text = item.strip()
        if text.lower() in NAMED_REQUIREMENTS:
            text = text.lower()
        elif not (text.startswith(KIND_PREFIX) and text[len(KIND_PREFIX) :].strip()):
            continue
        else:
            text = KIND_PREFIX + text[len(KIND_PREFIX) :].strip()
        if text not in found:
            found.append(text)
    return tuple(found)


def _pipeline_entries(raw: Any, base_dir: Path | None, section: str) -> list[Mapping]:
    """The mapping entries of one list section (``kernels``,
    ``shared_memory``) of a raw scenario's pipeline (inline, or the pipeline
    file it points to inside ``base_dir``); unreadable parts give none
    (validation reports them)."""
    pipeline = raw.get("pipeline") if isinstance(raw, Mapping) else None
    if isinstance(pipeline, str) and base_dir is not None:
        pipeline = _read_pipeline_file(base_dir, pipeline)
    if not isinstance(pipeline, Mapping):
        return []
    entries = pipeline.get(section)
    if not isinstance(entries, list):
        return []
    return [entry for entry in entries if isinstance(entry, Mapping)]


def pipeline_kinds(raw: Any, base_dir: Path | None = None) -> tuple[str, ...]:
    """Kernel kinds named by a raw scenario's pipeline (inline, or the
    pipeline file it points to inside ``base_dir``); unreadable parts give
    no kinds (validation reports them)."""
    kinds = [
        k["kind"].strip()
        for k in _pipeline_entries(raw, base_dir, "kernels")
        if isinstance(k.get("kind"), str)
    ]
    return tuple(dict.fromkeys(kinds))


def on_cuda(storage: Any, gpu_device: Any) -> bool:
    """Whether a stream with this ``storage`` and ``gpu_device`` lives on a
    CUDA device (``gpu`` storage, device absent or ``cuda...``): it needs a
    GPU to run."""
    if not (isinstance(storage, str) and storage.strip().lower() == "gpu"):
        return False
    return gpu_device is None or (
        isinstance(gpu_device, str) and gpu_device.strip().lower().startswith("cuda")
    )


def cuda_streams(raw: Any, base_dir: Path | None = None) -> tuple[str, ...]:
    """Names of the raw pipeline's streams :func:`on_cuda`."""
    return tuple(
        str(entry.get("name"))
        for entry in _pipeline_entries(raw, base_dir, "shared_memory")
        if on_cuda(entry.get("storage"), entry.get("gpu_device"))
    )


def _read_pipeline_file(base_dir: Path, relative: str) -> Any:
    from shmpipeline.errors import ScenarioError
    from shmpipeline.user_files import resolve_inside

    try:
        path = resolve_inside(
            base_dir, relative.strip(), what="pipeline", error=ScenarioError
        )
    except ScenarioError:
        return None
    return quick_load(path)


def torch_installed() -> bool:
    """Whether PyTorch can be imported here (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def unmet_requirements(
    raw: Any,
    *,
    base_dir: Path | None = None,
    registry: KernelRegistry | None = None,
    probe_gpu: bool = True,
) -> tuple[UnmetRequirement, ...]:
    """The needs of a raw scenario mapping not met here (see the module doc).

    ``probe_gpu=False`` leaves the (subprocess) CUDA probe out, for callers
    that decide about the GPU later.
    """
    needs = declared_needs(raw)
    kinds = pipeline_kinds(raw, base_dir)
    unmet: list[UnmetRequirement] = []
    gpu_kinds = [kind for kind in kinds if kind.startswith("gpu.")]
    if ("torch" in needs or gpu_kinds) and not torch_installed():
        what = f"kind {gpu_kinds[0]!r}" if gpu_kinds else "the scenario"
        unmet.append(
            UnmetRequirement(
                "torch",
                f"{what} needs PyTorch, which is not installed "
                "(pip install 'shmpipeline[gpu]')",
            )
        )
    wanted_kinds = [n[len(KIND_PREFIX) :] for n in needs if n.startswith(KIND_PREFIX)]
    if wanted_kinds:
        known = set(_known_kinds(registry))
        for kind in wanted_kinds:
            if kind not in known:
                unmet.append(
                    UnmetRequirement(
                        f"kind:{kind}",
                        f"kernel kind {kind!r} is not installed here (a plugin "
                        "distribution providing it is missing)",
                    )
                )
    wants_gpu = "gpu" in needs or bool(cuda_streams(raw, base_dir))
    if wants_gpu and probe_gpu and not any(u.hardware for u in unmet):
        from shmpipeline.testing.gpu_probe import cuda_probe

        present, reason = cuda_probe()
        if not present:
            unmet.append(UnmetRequirement("gpu", reason))
    return tuple(unmet)


def _known_kinds(registry: KernelRegistry | None) -> Iterable[str]:
    if registry is None:
        from shmpipeline.registry import get_default_registry

        registry = get_default_registry()
    return registry.kinds()


def unmet_for_file(
    path: str | PathLike[str], *, registry: KernelRegistry | None = None, probe_gpu: bool = True
) -> tuple[UnmetRequirement, ...]:
    """:func:`unmet_requirements` of a scenario file (none when it cannot be
    read: loading it reports why)."""

    file_path = Path(path)
    raw = quick_load(file_path)
    if not isinstance(raw, Mapping):
        return ()
    return unmet_requirements(
        raw,
        base_dir=file_path.resolve().parent,
        registry=registry,
        probe_gpu=probe_gpu,
    )


def declared_requirements(path: str | PathLike[str]) -> tuple[str, ...]:
    """The ``requirements`` a scenario file declares, read without
    validating it (so a GPU scenario can be skipped where it cannot even be
    validated, e.g. without torch)."""
    data = quick_load(Path(path))
    value = data.get("requirements") if isinstance(data, Mapping) else None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return ()
    return tuple(
        item.strip().lower()
        for item in items
        if isinstance(item, str) and item.strip().lower() in NAMED_REQUIREMENTS
    )  # kind:NAME entries: see declared_needs
