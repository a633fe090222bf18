"""Exact parameter-shift gradients that evaluate a whole batch in one primitive call.

qiskit-machine-learning's :class:`~qiskit_machine_learning.gradients.ParamShiftEstimatorGradient`
sends one PUB per shifted parameter set and per observable. For a batch of ``B`` samples,
``O`` observables and ``S`` parameterized gates that is ``2*B*O*S`` PUBs. This gradient plugs into
the same extension point (:class:`~qiskit_machine_learning.gradients.BaseEstimatorGradient`) and
instead sends, per distinct circuit, **one** broadcast PUB: all ``2*B*S`` shifted rows against all
``O`` observables at once, split into blocks of samples whose rows fit a memory budget
(:mod:`~qmoe_qiskit.engines.aer.budget`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.providers import Options
from qiskit.quantum_info import SparsePauliOp
from qiskit.quantum_info.operators.base_operator import BaseOperator
from qiskit.transpiler.passes import TranslateParameterizedGates
from qiskit.transpiler.passmanager import BasePassManager
from qiskit_machine_learning.gradients import (
    BaseEstimatorGradient,
    DerivativeType,
    EstimatorGradientResult,
)

from ...errors import EngineError
from .budget import DEFAULT_MEMORY_GB, rows_per_call

__all__ = ["SHIFTABLE_GATES", "BatchedParamShiftEstimatorGradient"]

#: Gates whose parameters obey the two-term shift rule with shift pi/2 (generator eigenvalues
#: +-1/2, up to a global phase).
SHIFTABLE_GATES = ("rx", "ry", "rz", "p", "rxx", "ryy", "rzz", "rzx")
_SUPPORTED = SHIFTABLE_GATES + (
    "x", "y", "z", "h", "s", "sdg", "sx", "cx", "cy", "cz", "ecr", "swap", "id",
)  # fmt: skip


@dataclass(frozen=True)
class _ShiftPlan:
    """A circuit with one fresh parameter per gate angle, and the maps back to the original."""

    circuit: QuantumCircuit  # one unique parameter per parameterized gate
    value_matrix: np.ndarray  # (n_original, n_unique): unique = values @ value_matrix + offset
    offset: np.ndarray  # (n_unique,)
    exprs: tuple[ParameterExpression, ...] | None  # set when some angle is non-affine
    originals: tuple[Parameter, ...]


def _affine(
    expr: ParameterExpression, index: dict[Parameter, int]
) -> tuple[dict[int, float], float] | None:
    """Coefficients and offset of an affine expression, or None if it is not affine."""
    if isinstance(expr, Parameter):
        return {index[expr]: 1.0}, 0.0
    coeffs: dict[int, float] = {}
    for parameter in expr.parameters:
        derivative = expr.gradient(parameter)
        if isinstance(derivative, ParameterExpression):
            if derivative.parameters:
                return None
            derivative = complex(derivative).real
        coeffs[index[parameter]] = float(derivative)
    constant = expr.bind({p: 0.0 for p in expr.parameters})
    return coeffs, float(complex(constant).real)


def _evaluate(expr, binding: dict[Parameter, float]) -> float:
    if isinstance(expr, Parameter):
        return float(binding[expr])
    if isinstance(expr, ParameterExpression):
        expr = expr.bind({p: binding[p] for p in expr.parameters})
    return float(complex(expr).real)


def _shift_plan(circuit: QuantumCircuit) -> _ShiftPlan:
    translated = TranslateParameterizedGates(list(_SUPPORTED))(circuit)
    originals = tuple(circuit.parameters)
    index = {p: i for i, p in enumerate(originals)}
    unique = translated.copy_empty_like(f"{circuit.name}_shift")
    unique.global_phase = 0.0  # a global phase never changes an expectation value
    angles: list[ParameterExpression] = []
    for instruction in translated.data:
        operation = instruction.operation
        if operation.is_parameterized():
            if operation.name not in SHIFTABLE_GATES or len(operation.params) != 1:
                raise EngineError(
                    f"gate {operation.name!r} is not supported by the parameter-shift rule"
                )
            angles.append(operation.params[0])
            operation = operation.copy()
            operation.params = [Parameter(f"_s{len(angles) - 1:06d}")]
        unique.append(operation, instruction.qubits, instruction.clbits)
    # Qiskit sorts a circuit's parameters by name; the zero-padded names keep gate order.
    matrix = np.zeros((len(originals), len(angles)))
    offset = np.zeros(len(angles))
    exprs: list[ParameterExpression] = []
    affine = True
    for j, angle in enumerate(angles):
        parts = _affine(angle, index)
        exprs.append(angle)
        if parts is None:
            affine = False
            continue
        for i, coefficient in parts[0].items():
            matrix[i, j] = coefficient
        offset[j] = parts[1]
    return _ShiftPlan(unique, matrix, offset, None if affine else tuple(exprs), originals)


@dataclass(frozen=True)
class _Executable:
    """What is sent for a plan: its circuit, transpiled when a pass manager is given."""

    circuit: QuantumCircuit
    columns: np.ndarray  # column of the plan's unique angles for each circuit parameter
    layout: object | None  # TranspileLayout to apply to the observables, if any


class BatchedParamShiftEstimatorGradient(BaseEstimatorGradient):
    """Exact parameter-shift gradient, batched into one broadcast PUB per distinct circuit.

    Every parameterized gate angle gets its own unique parameter; each is shifted by +-pi/2,
    and the chain rule maps the unique-angle derivatives back to the requested parameters
    (angles such as ``theta/2`` or ``(a - b)/4`` are affine, so the chain rule is one matrix
    product; non-affine angles fall back to per-sample evaluation). Only angles that depend on
    a requested parameter are shifted, so weight-only gradients never shift the input angles.

    The contract of :class:`~qiskit_machine_learning.gradients.BaseEstimatorGradient` is kept:
    with a ``pass_manager`` the shifted circuit is transpiled once (cached) and the observables
    get its layout, so an estimator that needs ISA circuits (a Runtime estimator on a backend)
    receives one; ``options`` (at construction, by ``update_default_options`` or per ``run``,
    the later taking priority) are reported in the result, and ``precision``, the one run
    option of a V2 estimator, is passed to it.

    Args:
        estimator: A V2 estimator. For exact results use one with zero default precision
            (e.g. Aer's ``EstimatorV2(options={"default_precision": 0})``).
        options: Default run options; only ``precision`` is understood (V2 estimators set
            shots and the like in their own options).
        derivative_type: Only ``DerivativeType.REAL``: the parameter-shift rule differentiates
            a real expectation value.
        pass_manager: Transpiles the circuits before they are sent (e.g.
            ``generate_preset_pass_manager(backend=...)``).
        memory_gb: Working-memory budget of one primitive call, in GB: samples are sent in
            blocks whose shifted rows fit it (see
            :func:`~qmoe_qiskit.engines.aer.budget.rows_per_call`). Rows of a single sample
            are never split here; wrap the estimator in a
            :class:`~qmoe_qiskit.engines.aer.budget.ChunkedEstimator` for that.
    """

    def __init__(
        self,
        estimator,
        options: Options | dict | None = None,
        derivative_type: DerivativeType = DerivativeType.REAL,
        pass_manager: BasePassManager | None = None,
        memory_gb: float = DEFAULT_MEMORY_GB,
    ):
        if derivative_type != DerivativeType.REAL:
            raise EngineError(
                f"{type(self).__name__} computes real derivatives only (the parameter-shift "
                f"rule differentiates a real expectation value), got {derivative_type}; use "
                "LinCombEstimatorGradient for imaginary or complex derivatives"
            )
        if not memory_gb > 0:
            raise EngineError(f"memory budget must be positive, got {memory_gb} GB")
        super().__init__(
            estimator, options=options, derivative_type=derivative_type, pass_manager=pass_manager
        )
        _check_options(dict(self._default_options.__dict__))
        self._memory_gb = float(memory_gb)
        self._plans: dict[int, tuple[QuantumCircuit, _ShiftPlan, _Executable]] = {}

    @property
    def options(self) -> Options:
        """The gradient's default run options (a V2 estimator keeps its own options apart)."""
        return Options(**self._default_options.__dict__)

    def update_default_options(self, **options) -> None:
        _check_options(options)
        super().update_default_options(**options)

    def _plan(self, circuit: QuantumCircuit) -> tuple[_ShiftPlan, _Executable]:
        cached = self._plans.get(id(circuit))
        if cached is None or cached[0] is not circuit:
            plan = _shift_plan(circuit)
            cached = (circuit, plan, self._executable(plan))
            self._plans[id(circuit)] = cached
        return cached[1], cached[2]

    def _executable(self, plan: _ShiftPlan) -> _Executable:
        names = [p.name for p in plan.circuit.parameters]
        if self._pass_manager is None:
            return _Executable(plan.circuit, np.arange(len(names)), None)
        transpiled = self._pass_manager.run(plan.circuit)
        columns = np.array([names.index(p.name) for p in transpiled.parameters], dtype=int)
        return _Executable(transpiled, columns, transpiled.layout)

    def _run(
        self,
        circuits: Sequence[QuantumCircuit],
        observables: Sequence[BaseOperator],
        parameter_values: Sequence[Sequence[float]] | np.ndarray,
        parameters: Sequence[Sequence[Parameter]],
        **options,
    ) -> EstimatorGradientResult:
        gradients: list[np.ndarray | None] = [None] * len(circuits)
        _check_options(options)
        precision = options.get("precision")
        groups: dict[tuple, list[int]] = {}
        for i, (circuit, params) in enumerate(zip(circuits, parameters, strict=True)):
            groups.setdefault((id(circuit), tuple(params)), []).append(i)
        for members in groups.values():
            self._run_group(
                members, circuits, observables, parameter_values, parameters, gradients, precision
            )
        metadata = [{"parameters": p} for p in parameters]
        done = [g for g in gradients if g is not None]
        assert len(done) == len(gradients)  # every circuit is in one group
        return EstimatorGradientResult(
            gradients=done, metadata=metadata, options=Options(**options)
        )

    def _run_group(
        self, members, circuits, observables, parameter_values, parameters, out, precision
    ):
        circuit = circuits[members[0]]
        plan, executable = self._plan(circuit)
        wanted = [plan.originals.index(p) for p in parameters[members[0]]]
        values = np.asarray([parameter_values[i] for i in members], dtype=float)
        rows, inverse = np.unique(values, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)

        obs_list: list[SparsePauliOp] = []
        obs_index: list[int] = []
        for i in members:
            op = observables[i]
            for j, known in enumerate(obs_list):
                if op is known or op == known:
                    obs_index.append(j)
                    break
            else:
                obs_list.append(op)
                obs_index.append(len(obs_list) - 1)

        # Unique angles for every row, then their chain-rule coefficients d angle / d parameter.
        if plan.exprs is None:
            angles = rows @ plan.value_matrix + plan.offset
            coefficients = plan.value_matrix[wanted].T  # (n_unique, n_wanted)
            chain = np.broadcast_to(coefficients, (len(rows),) + coefficients.shape)
        else:
            angles, chain = self._nonaffine(plan, rows, wanted)
        shifted = np.flatnonzero(np.any(chain != 0, axis=(0, 2)))
        num_shift = len(shifted)
        num_unique = angles.shape[1]
        grads = np.zeros((len(obs_list), len(rows), len(wanted)))
        if num_shift:
            per_row = 2 * num_shift
            dense = getattr(self._estimator, "density_matrix", False)
            limit = rows_per_call(plan.circuit, self._memory_gb, dense)
            samples_per_call = max(1, limit // per_row)
            if executable.layout is not None:
                obs_list = [SparsePauliOp(op).apply_layout(executable.layout) for op in obs_list]
            observable_array = [[op] for op in obs_list]
            for start in range(0, len(rows), samples_per_call):
                block = angles[start : start + samples_per_call]
                batch = np.repeat(block[:, None, :], per_row, axis=1)
                steps = np.arange(num_shift)
                batch[:, steps, shifted] += np.pi / 2
                batch[:, num_shift + steps, shifted] -= np.pi / 2
                values = batch.reshape(-1, num_unique)[:, executable.columns]
                pub = (executable.circuit, observable_array, values)
                job = self._estimator.run([pub], precision=precision)
                evs = np.asarray(job.result()[0].data.evs)
                evs = evs.reshape(len(obs_list), len(block), 2, num_shift)
                d_angle = (evs[:, :, 0, :] - evs[:, :, 1, :]) / 2
                stop = start + len(block)
                grads[:, start:stop] = np.einsum(
                    "orS,rSp->orp", d_angle, chain[start:stop][:, shifted, :]
                )
        for position, i in enumerate(members):
            out[i] = grads[obs_index[position], inverse[position]]

    @staticmethod
    def _nonaffine(plan: _ShiftPlan, rows: np.ndarray, wanted: list[int]):
        assert plan.exprs is not None  # called for plans with a non-affine angle only
        angles = np.zeros((len(rows), len(plan.exprs)))
        chain = np.zeros((len(rows), len(plan.exprs), len(wanted)))
        for r, row in enumerate(rows):
            binding = dict(zip(plan.originals, row, strict=True))
            for j, expr in enumerate(plan.exprs):
                angles[r, j] = _evaluate(expr, binding)
                for w, i in enumerate(wanted):
                    parameter = plan.originals[i]
                    if parameter in expr.parameters:
                        derivative = expr.gradient(parameter)
                        chain[r, j, w] = _evaluate(derivative, binding)
        return angles, chain


#: Run options a V2 estimator understands per call.
_RUN_OPTIONS = ("precision",)


def _check_options(options: dict) -> None:
    unknown = sorted(set(options) - set(_RUN_OPTIONS))
    if unknown:
        raise EngineError(
            f"unknown gradient option {unknown[0]!r}: a V2 estimator takes only "
            f"{', '.join(_RUN_OPTIONS)} per run; set shots and the like in the estimator's "
            "own options"
        )
