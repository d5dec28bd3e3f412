"""What the NumPy and the torch expression plans share: the slot table of
a compiled expression and running it for one frame.

A plan (``cpu.custom_operation``'s :class:`ExpressionPlan`, the GPU twin's
:class:`TorchExpressionPlan`) compiles a typed expression tree
(:mod:`shmpipeline.kernels._expression`) into ``steps``, each calling
``func(*operands, out=slot)``. Slots ``0..n-1`` hold the named inputs (in
``names`` order), slot ``n`` the output, then the plan's temporaries; the
caller's buffers are dropped from the table after every run (they are
shared-memory views).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shmpipeline.kernels import _expression as expr


class SlotPlan:
    """Base of the compiled expression plans: names, the output slot, the
    shape and dtype of every slot compiled so far (``_info``), ``steps`` and
    the ``temporaries`` (the slots after the output)."""

    def __init__(
        self,
        root: expr.Node,
        names: Sequence[str],
        output_shape: tuple[int, ...],
        output_dtype: Any,
    ) -> None:
        self.names = tuple(names)
        self.output_slot = len(self.names)
        self._var_slot = {name: i for i, name in enumerate(self.names)}
        self._info: dict[int, tuple[tuple[int, ...], np.dtype]] = {
            self.output_slot: (tuple(output_shape), np.dtype(output_dtype))
        }
        for node in expr.walk(root):
            if isinstance(node, expr.Var):
                self._info[self._var_slot[node.name]] = (node.shape, node.dtype)
        self._slots: list[Any] = [None] * (self.output_slot + 1)
        self.steps: list[tuple[Any, tuple[Any, ...], int]] = []
        self._compile(root, np.dtype(output_dtype))
        self.temporaries = tuple(self._slots[self.output_slot + 1 :])

    def _compile(self, root: expr.Node, output_dtype: np.dtype) -> None:
        """Append the steps computing ``root`` into the output slot and the
        temporaries they need to the slot table."""
        raise NotImplementedError

    def _emit(self, node: expr.Node, dest: int | None = None) -> tuple[bool, Any]:
        """The operand holding ``node``'s value: ``(False, value)`` for a
        literal, ``(True, slot)`` for a named input or a computed operation
        (into ``dest`` when given), its operands emitted first."""
        if isinstance(node, expr.Const):
            return (False, node.value)
        if isinstance(node, expr.Var):
            return (True, self._var_slot[node.name])
        args = [self._emit(arg) for arg in node.args]
        return self._emit_op(node, args, dest)

    def _emit_op(
        self, node: expr.Op, args: list[tuple[bool, Any]], dest: int | None
    ) -> tuple[bool, Any]:
        """Append the steps of operation ``node`` over emitted ``args``."""
        raise NotImplementedError

    def run(self, inputs: Sequence[Any], output: Any) -> None:
        """Evaluate into ``output``; ``inputs`` follow ``names``."""
        slots = self._slots
        slots[: self.output_slot] = inputs
        slots[self.output_slot] = output
        try:
            self._execute(slots)
        finally:
            # drop references to the caller's buffers (shared-memory views)
            for i in range(self.output_slot + 1):
                slots[i] = None

    def _execute(self, slots: list[Any]) -> None:
        """Run ``steps`` over the bound slot table."""
        raise NotImplementedError


class PlanInputs:
    """Feeds a compiled plan one kernel frame: ``input`` and the auxiliaries
    gathered into a reused list in plan-slot order, dropped afterwards."""

    def __init__(self, config: Any) -> None:
        self.aliases = tuple(b.alias for b in config.auxiliary)
        self.names = ("input", *self.aliases)
        self._slots: list[Any] = [None] * len(self.names)

    def run(
        self,
        plan: SlotPlan,
        trigger_input: Any,
        output: Any,
        auxiliary_inputs: Mapping[str, Any],
    ) -> None:
        """Call ``plan.run(slots, output)`` with this frame's operands."""
        slots = self._slots
        slots[0] = trigger_input
        for i, alias in enumerate(self.aliases, 1):
            slots[i] = auxiliary_inputs[alias]
        try:
            plan.run(slots, output)
        finally:
            for i in range(len(slots)):
                slots[i] = None


__all__ = ["PlanInputs", "SlotPlan"]
