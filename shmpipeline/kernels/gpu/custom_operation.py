"""``gpu.custom_operation``: the whitelisted expression compiled to torch calls.

The expression is parsed and type-checked by the CPU twin's rules
(:func:`~shmpipeline.kernels.cpu.custom_operation.parse_custom_operation`,
on :mod:`shmpipeline.kernels._expression`), so both twins accept the same
expressions and give every node the same NumPy shape and dtype. This module
compiles that typed tree into a list of torch calls writing into tensors
preallocated on the device.

Types follow NumPy, not torch: for each operation the NumPy ufunc loop is
resolved at compile time (``ufunc.resolve_dtypes``, literals as weak Python
scalars), every operand is cast into that loop's dtype (tensors into a
preallocated temporary, literals into a 0-d device tensor), and the torch
call computes in it. torch's own promotion (``int / int -> float32``,
``int32 + 1.5 -> float32``...) therefore never decides a result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from shmpipeline import _torch
from shmpipeline.kernels import _expression as expr
from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._plan import PlanInputs, SlotPlan
from shmpipeline.kernels.cpu.custom_operation import CustomOperationCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel


def _copy(source: torch.Tensor, *, out: torch.Tensor) -> torch.Tensor:
    return out.copy_(source)


#: expression op -> torch function taking ``out=``
TORCH_OPS: dict[str, Callable[..., Any]] = {
    "add": torch.add,
    "subtract": torch.sub,
    "multiply": torch.mul,
    "divide": torch.div,
    "power": torch.pow,
    "matmul": torch.matmul,
    "negative": torch.neg,
    "positive": _copy,
    "absolute": torch.abs,
    "sqrt": torch.sqrt,
    "exp": torch.exp,
    "log": torch.log,
    "minimum": torch.minimum,
    "maximum": torch.maximum,
    "less": torch.lt,
    "less_equal": torch.le,
    "greater": torch.gt,
    "greater_equal": torch.ge,
    "equal": torch.eq,
    "not_equal": torch.ne,
}
_COMPARISONS = frozenset(
    {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"}
)
_ORDERED = frozenset(
    {"minimum", "maximum", "clip", "less", "less_equal", "greater", "greater_equal"}
)

Operand = tuple[bool, Any]  # (is a slot index, slot index or Python scalar)


class TorchExpressionPlan(SlotPlan):
    """A typed expression tree compiled once into torch calls on ``device``.

    Slots hold the named inputs (in ``names`` order), the output, then the
    temporaries and literal constants, all allocated here. Each step calls
    ``func(*slots, out=slot)``.
    """

    def __init__(self, *plan: Any, device: torch.device) -> None:
        """``plan``: :class:`SlotPlan`'s ``root, names, output_shape,
        output_dtype``; every buffer of the plan lives on ``device``."""
        self.device = torch.device(device)
        super().__init__(*plan)

    def _compile(self, root: expr.Node, output_dtype: np.dtype) -> None:
        if isinstance(root, expr.Op):
            self._emit(root, dest=self.output_slot)
        else:
            source = self._tensor(self._emit(root), output_dtype)
            self.steps.append((_copy, (source,), self.output_slot))

    # compilation --------------------------------------------------------------

    def _add(self, tensor: torch.Tensor, dtype: np.dtype) -> int:
        self._slots.append(tensor)
        slot = len(self._slots) - 1
        self._info[slot] = (tuple(tensor.shape), np.dtype(dtype))
        return slot

    def _alloc(self, shape: tuple[int, ...], dtype: Any) -> int:
        dtype = np.dtype(dtype)
        tensor = torch.zeros(
            tuple(shape), dtype=_torch.torch_dtype(dtype), device=self.device
        )
        return self._add(tensor, dtype)

    def _tensor(self, operand: Operand, dtype: Any) -> int:
        """Slot holding ``operand`` in ``dtype``: the operand itself, a cast
        of it (one copy step into a temporary), or a 0-d literal tensor."""
        dtype = np.dtype(dtype)
        is_slot, value = operand
        if not is_slot:
            literal = torch.tensor(
                value, dtype=_torch.torch_dtype(dtype), device=self.device
            )
            return self._add(literal, dtype)
        shape, have = self._info[value]
        if have == dtype:
            return value
        cast = self._alloc(shape, dtype)
        self.steps.append((_copy, (value,), cast))
        return cast

    def _shape_of(self, operand: Operand) -> tuple[int, ...]:
        is_slot, value = operand
        return self._info[value][0] if is_slot else ()

    def _dtype_of(self, operand: Operand) -> Any:
        is_slot, value = operand
        return self._info[value][1] if is_slot else type(value)

    def _loop(self, op: str, args: Sequence[Operand]) -> list[np.dtype]:
        """Dtypes of NumPy's loop for ``op`` on ``args``: inputs, then output."""
        try:
            loop = getattr(np, op).resolve_dtypes(
                (*(self._dtype_of(a) for a in args), None)
            )
            return [np.dtype(d) for d in loop]
        except Exception:  # noqa: BLE001 - older NumPy: the common dtype
            values = [
                self._info[value][1] if is_slot else value for is_slot, value in args
            ]
            common = np.dtype(np.result_type(*values))
            out = np.dtype(np.bool_) if op in _COMPARISONS else common
            return [common] * len(args) + [out]

    def _call(self, op: str, args: Sequence[Operand], dest: int) -> None:
        loop = self._loop(op, args)
        slots = tuple(self._tensor(a, d) for a, d in zip(args, loop[:-1], strict=True))
        self.steps.append((TORCH_OPS[op], slots, dest))

    def _emit_op(
        self, node: expr.Op, args: list[Operand], dest: int | None
    ) -> Operand:
        if dest is None:
            dest = self._alloc(node.shape, node.dtype)
        op = node.op
        if op == "clip":
            x, low, high = args
            # maximum(x, low) has its own dtype and shape (torch, unlike
            # NumPy, does not broadcast a result into a larger ``out``)
            inner = self._loop("maximum", (x, low))[-1]
            shape = np.broadcast_shapes(self._shape_of(x), self._shape_of(low))
            middle = dest
            if inner != np.dtype(node.dtype) or tuple(shape) != tuple(node.shape):
                middle = self._alloc(shape, inner)
            self._call("maximum", (x, low), middle)
            self._call("minimum", ((True, middle), high), dest)
        elif op == "where":
            cond, a, b = args
            if not cond[0]:
                chosen = a if cond[1] else b
                self.steps.append((_copy, (self._tensor(chosen, node.dtype),), dest))
            else:
                cond_node = node.args[0]
                mask = cond[1]
                if np.dtype(cond_node.dtype) != np.bool_:
                    zero = self._tensor((False, 0), cond_node.dtype)
                    mask = self._alloc(cond_node.shape, np.bool_)
                    self.steps.append((torch.ne, (cond[1], zero), mask))
                self.steps.append(
                    (
                        torch.where,
                        (
                            mask,
                            self._tensor(a, node.dtype),
                            self._tensor(b, node.dtype),
                        ),
                        dest,
                    )
                )
        else:
            self._call(op, args, dest)
        return (True, dest)

    # execution ----------------------------------------------------------------

    def _execute(self, slots: list[Any]) -> None:
        for func, operands, dest in self.steps:
            func(*[slots[i] for i in operands], out=slots[dest])


def check_torch_support(config, root: expr.Node) -> None:
    """Refuse, at validation, the operations torch cannot run on CUDA:
    ordering complex numbers, integer/bool matrix products, ``abs`` and
    arithmetic negation of booleans."""
    for node in expr.walk(root):
        if not isinstance(node, expr.Op):
            continue
        kinds = {
            np.dtype(a.dtype).kind for a in node.args if not isinstance(a, expr.Const)
        }
        problem = None
        if node.op in _ORDERED and "c" in kinds:
            problem = "torch does not order complex numbers"
        elif node.op == "matmul" and np.dtype(node.dtype).kind not in "fc":
            problem = "CUDA has no integer matrix products (use floating operands)"
        elif node.op in ("absolute", "negative") and kinds == {"b"}:
            problem = "torch has no abs()/negation of booleans"
        if problem:
            raise v.error(
                config,
                "operation",
                f"{node.source or node.op!r} is not supported by {config.kind}: "
                f"{problem}",
            )


class CustomOperationGpuKernel(GpuKernel):
    """Evaluate the top-level ``operation`` expression (see
    ``cpu.custom_operation`` and :mod:`shmpipeline.kernels._expression`) with
    torch, NumPy's dtype rules, and temporaries preallocated on the device."""

    kind = "gpu.custom_operation"
    cpu_twin = CustomOperationCpuKernel

    @classmethod
    def _gpu_rules(cls, config, shared_memory, settings) -> None:
        check_torch_support(config, settings)

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        self.expression = self.settings
        self.inputs = PlanInputs(context.config)
        spec = context.output_spec
        self.plan = TorchExpressionPlan(
            self.expression,
            self.inputs.names,
            tuple(spec.shape),
            spec.dtype,
            device=self.device,
        )

    # the same per-frame call as the CPU twin's, over the torch plan
    compute_into = CustomOperationCpuKernel.compute_into


__all__ = ["CustomOperationGpuKernel", "TorchExpressionPlan", "check_torch_support"]
