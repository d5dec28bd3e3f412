"""``cpu.custom_operation``: a whitelisted expression compiled to NumPy calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shmpipeline.kernels import _expression as expr
from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._plan import PlanInputs, SlotPlan
from shmpipeline.kernels.cpu._base import CpuKernel


def _copy(source: Any, out: np.ndarray) -> None:
    np.copyto(out, source)


def _copy_where(source: Any, mask: np.ndarray, out: np.ndarray) -> None:
    np.copyto(out, source, where=mask)


Operand = tuple[bool, Any]  # (is a slot index, slot index or Python scalar)


class ExpressionPlan(SlotPlan):
    """A typed expression tree compiled once into a list of NumPy calls.

    Slots hold the named inputs (in ``names`` order), then the output, then
    the temporaries, which are allocated here once. Each step calls
    ``func(*operands, out=slot)``. Elementwise steps may write in place into a
    temporary their operand no longer needs, so a chain of elementwise
    operations reuses one buffer; an operand whose dtype differs from the
    ufunc loop's is first cast into a preallocated temporary, so NumPy never
    allocates a casting buffer per frame.
    """

    def _compile(self, root: expr.Node, output_dtype: np.dtype) -> None:
        self._temp_specs: list[tuple[tuple[int, ...], np.dtype]] = []
        self._free: dict[tuple[tuple[int, ...], str], list[int]] = {}
        if isinstance(root, expr.Op):
            self._emit(root, dest=self.output_slot)
        else:
            self.steps.append((_copy, (self._emit(root),), self.output_slot))
        self._slots.extend(np.zeros(shape, dtype) for shape, dtype in self._temp_specs)

    # compilation --------------------------------------------------------------

    def _temp_base(self) -> int:
        return self.output_slot + 1

    def _alloc(
        self, shape: tuple[int, ...], dtype: np.dtype, avoid: Sequence[Operand] = ()
    ) -> int:
        key = (tuple(shape), np.dtype(dtype).str)
        busy = {value for is_slot, value in avoid if is_slot}
        pool = self._free.get(key, [])
        for i, slot in enumerate(pool):
            if slot not in busy:
                return pool.pop(i)
        self._temp_specs.append((tuple(shape), np.dtype(dtype)))
        slot = self._temp_base() + len(self._temp_specs) - 1
        self._info[slot] = (tuple(shape), np.dtype(dtype))
        return slot

    def _release(self, operands: Sequence[Operand]) -> None:
        for is_slot, value in operands:
            if is_slot and value >= self._temp_base():
                shape, dtype = self._info[value]
                self._free.setdefault((shape, dtype.str), []).append(value)

    def _operand_dtype(self, operand: Operand) -> Any:
        is_slot, value = operand
        if is_slot:
            return self._info[value][1]
        if isinstance(value, bool):
            return np.dtype(np.bool_)
        return type(value)  # weak Python scalar (NEP 50)

    def _ufunc(self, ufunc: np.ufunc, args: Sequence[Operand], dest: int) -> None:
        """Append ``ufunc(*args, out=dest)``, casting operands first if needed."""
        try:
            loop = ufunc.resolve_dtypes((*(self._operand_dtype(a) for a in args), None))
        except (AttributeError, TypeError):  # no resolve_dtypes (older NumPy) or
            # no exact loop: let the ufunc cast (still correct)
            loop = None
        casts: list[Operand] = []
        if loop is not None:
            operands = [*args, (True, dest)]
            cast_args = []
            for arg, loop_dtype in zip(args, loop, strict=False):
                if arg[0] and self._info[arg[1]][1] != loop_dtype:
                    shape = self._info[arg[1]][0]
                    tmp = (True, self._alloc(shape, loop_dtype, avoid=operands + casts))
                    self.steps.append((_copy, (arg,), tmp[1]))
                    casts.append(tmp)
                    arg = tmp
                cast_args.append(arg)
            args = cast_args
        self.steps.append((ufunc, tuple(args), dest))
        self._release(casts)

    def _emit_op(
        self, node: expr.Op, args: list[Operand], dest: int | None
    ) -> Operand:
        simple = node.op in expr.ELEMENTWISE_UFUNCS
        if dest is None and simple:
            self._release(args)  # one ufunc call may safely write in place
            dest = self._alloc(node.shape, node.dtype)
        elif dest is None:
            dest = self._alloc(node.shape, node.dtype)
        out = (True, dest)
        scratch: list[Operand] = []
        op = node.op
        if op == "clip":
            x, low, high = args
            try:
                inner = np.maximum.resolve_dtypes(
                    (self._operand_dtype(x), self._operand_dtype(low), None)
                )[-1]
            except (AttributeError, TypeError):  # as in _ufunc
                inner = node.dtype
            middle = out
            if inner != node.dtype:
                middle = (True, self._alloc(node.shape, inner, avoid=args))
                scratch.append(middle)
            self._ufunc(np.maximum, (x, low), middle[1])
            self._ufunc(np.minimum, (middle, high), dest)
        elif op == "where":
            cond, a, b = args
            if not cond[0]:
                self.steps.append((_copy, (a if cond[1] else b,), dest))
            else:
                cond_node = node.args[0]
                if np.dtype(cond_node.dtype) != np.bool_:
                    mask = (
                        True,
                        self._alloc(cond_node.shape, np.dtype(np.bool_), avoid=args),
                    )
                    self._ufunc(np.not_equal, (cond, (False, 0)), mask[1])
                    scratch.append(mask)
                    cond = mask
                self.steps.append((_copy, (b,), dest))
                self.steps.append((_copy_where, (a, cond), dest))
        else:
            self._ufunc(getattr(np, op), args, dest)
        if not simple:
            # multi-step ops read their operands until the last step
            self._release(args)
        self._release(scratch)
        return out

    # execution ----------------------------------------------------------------

    def _execute(self, slots: list[Any]) -> None:
        for func, operands, dest in self.steps:
            func(
                *[slots[x] if is_slot else x for is_slot, x in operands],
                out=slots[dest],
            )


def parse_custom_operation(config, shared_memory) -> expr.Node:
    """Validate a custom-operation config; return its typed expression tree
    (shared with the GPU twin)."""
    params = config.parameters or {}
    if "operation" in params:
        raise v.error(
            config,
            "parameters.operation",
            "the expression goes in the kernel's top-level 'operation' field",
        )
    v.check_known_parameters(config, ())
    if config.operation is None:
        raise v.error(
            config,
            "operation",
            "required: an expression over 'input' and the auxiliary aliases, "
            "e.g. 'input * 2'",
        )
    variables = {"input": _spec_pair(shared_memory[config.input])}
    for binding in config.auxiliary:
        if binding.alias == "input":
            raise v.error(
                config,
                "auxiliary.input",
                "alias 'input' is reserved for the trigger input; choose another alias",
            )
        variables[binding.alias] = _spec_pair(shared_memory[binding.name])
    root = expr.parse_expression(config.operation, variables, kernel=config.name)
    target = shared_memory[config.output]
    expr.check_result(
        root,
        config.operation.strip(),
        kernel=config.name,
        output_name=target.name,
        shape=tuple(target.shape),
        dtype=target.dtype,
    )
    return root


def _spec_pair(spec) -> tuple[tuple[int, ...], np.dtype]:
    return tuple(spec.shape), np.dtype(spec.dtype)


class CustomOperationCpuKernel(CpuKernel):
    """Evaluate the top-level ``operation`` expression over ``input`` and the
    auxiliary aliases (any number); see :mod:`shmpipeline.kernels._expression`
    for the language. The expression is parsed and type-checked at validation
    (its result must have the output's exact shape and dtype) and compiled
    once into NumPy calls with preallocated temporaries."""

    kind = "cpu.custom_operation"
    auxiliary_arity = None
    parameter_names = None  # checked in parse_custom_operation, with a hint
    accepts_operation = True

    @classmethod
    def _settings(cls, config, shared_memory) -> expr.Node:
        return parse_custom_operation(config, shared_memory)

    def __init__(self, context) -> None:
        super().__init__(context)
        self.expression = self.settings
        self.inputs = PlanInputs(context.config)
        spec = context.output_spec
        self.plan = ExpressionPlan(
            self.expression, self.inputs.names, tuple(spec.shape), spec.dtype
        )

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        self.inputs.run(self.plan, trigger_input, output, auxiliary_inputs)
