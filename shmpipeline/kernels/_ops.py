"""In-place array operations, so that one per-frame algorithm serves the
NumPy kernels and their torch twins.

:class:`ArrayOps` names the few calls a control law needs, each writing into
``out=`` (never allocating per frame); ``cpu.*`` kernels carry NumPy's
(:data:`shmpipeline.kernels.cpu._base.NUMPY_OPS`), ``gpu.*`` kernels torch's
(:data:`shmpipeline.kernels.gpu._base.TORCH_OPS`). A kernel whose twins
compute the same steps writes them once against ``self.ops``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ArrayOps:
    """One library's in-place calls: ``copy(dst, src)``, ``cast(dst, src)``;
    the others ``f(a, b, out=dst)``."""

    copy: Callable[[Any, Any], Any]
    #: ``cast(dst, src)``: copy converting any dtype (integers toward zero)
    cast: Callable[[Any, Any], Any]
    add: Callable[..., Any]
    subtract: Callable[..., Any]
    multiply: Callable[..., Any]
    #: matrix times vector
    matvec: Callable[..., Any]
    maximum: Callable[..., Any]
    minimum: Callable[..., Any]


def leaky_update(
    ops: ArrayOps, state: Any, update: Any, leak: Any, gain: Any, scratch: Any
) -> None:
    """``state = leak * state + gain * update`` in place, through ``scratch``
    (which may be ``update`` itself when it may be overwritten): the step of
    ``leaky_integrator`` and of the fused controllers."""
    ops.multiply(state, leak, out=state)
    ops.multiply(update, gain, out=scratch)
    ops.add(state, scratch, out=state)


__all__ = ["ArrayOps", "leaky_update"]
