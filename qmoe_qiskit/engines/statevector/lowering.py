"""Lower a basis-gate circuit with affine (or input x weight) angles into a flat gate program.

A :class:`GateProgram` is the circuit as plain data: one :class:`Gate` per instruction, and the
angle of every rotation as an affine map of the inputs and weights,
``angles = inputs @ input_map.T + weights @ weight_map.T + offset``, plus, for trainable data
re-uploading (``w * x + b``), products of one input and one weight
(``angles[a] += c * inputs[i] * weights[j]`` for each row ``(a, i, j)`` of ``products``).
Everything after this step is numeric; nothing refers back to Qiskit objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit

from ...errors import EngineError  # noqa: I001

__all__ = [
    "CONSTANT_GATES",
    "ROTATION_GATES",
    "TWO_QUBIT_GATES",
    "EngineError",
    "Gate",
    "GateProgram",
    "lower_circuit",
]

#: Rotations ``exp(-i theta P / 2)`` with an affine angle.
ROTATION_GATES = ("rx", "ry", "rz")
#: Fixed single-qubit gates.
CONSTANT_GATES = ("h", "x")
#: Fixed two-qubit gates (qubits ``(control, target)`` for ``cx``).
TWO_QUBIT_GATES = ("cx", "cz")


@dataclass(frozen=True)
class Gate:
    """One gate of a :class:`GateProgram`.

    Attributes:
        name: A name from :data:`ROTATION_GATES`, :data:`CONSTANT_GATES` or
            :data:`TWO_QUBIT_GATES`.
        qubits: Circuit qubit indices (``(control, target)`` for ``cx``).
        angle: Row of the angle maps for a rotation, ``-1`` otherwise.
    """

    name: str
    qubits: tuple[int, ...]
    angle: int = -1


@dataclass(frozen=True, eq=False)
class GateProgram:
    """A circuit as gates plus affine angle maps.

    Attributes:
        num_qubits: Circuit width; qubit ``q`` is bit ``q`` of a basis-state index (Qiskit order).
        gates: The gates in circuit order.
        input_map: ``(angles, inputs)`` coefficients of the inputs in each rotation angle.
        weight_map: ``(angles, weights)`` coefficients of the weights in each rotation angle.
        offset: ``(angles,)`` constant part of each rotation angle.
        products: ``(terms, 3)`` integer rows ``(angle, input, weight)``: each adds
            ``product_coeffs[t] * inputs[input] * weights[weight]`` to that angle.
        product_coeffs: ``(terms,)`` coefficients of those products.
    """

    num_qubits: int
    gates: tuple[Gate, ...]
    input_map: np.ndarray
    weight_map: np.ndarray
    offset: np.ndarray
    products: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    product_coeffs: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def num_angles(self) -> int:
        """Number of rotation angles (one per rotation gate)."""
        return len(self.offset)

    def input_dependent(self) -> np.ndarray:
        """Boolean mask over angles: whether the angle depends on any input."""
        depends = np.any(self.input_map != 0, axis=1)
        depends[self.products[:, 0]] = True
        return depends

    def angles(self, inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Evaluate all angles in NumPy (reference helper).

        Args:
            inputs: ``(batch, inputs)`` input values.
            weights: ``(weights,)`` weight values.

        Returns:
            ``(batch, angles)`` angle values.
        """
        inputs = np.atleast_2d(np.asarray(inputs, dtype=float))
        weights = np.asarray(weights, float)
        angles = inputs @ self.input_map.T + (self.weight_map @ weights) + self.offset
        rows, cols, wcols = self.products.T
        terms = inputs[:, cols] * (self.product_coeffs * weights[wcols])
        # numpy's stub leaves out the tuple indices that ufunc.at accepts (and documents).
        np.add.at(angles, (slice(None), rows), terms)  # type: ignore[arg-type]
        return angles


def _number(value: ParameterExpression | complex, what: str) -> float:
    value = complex(value.numeric() if isinstance(value, ParameterExpression) else value)
    if value.imag:
        raise EngineError(f"{what} is complex")
    return value.real


def _lower_angle(
    value: ParameterExpression | float,
    index: dict[Parameter, tuple[int, int]],
    row: int,
    maps: list[np.ndarray],
    products: list[tuple[int, int, int, float]],
) -> float:
    """Write ``value``'s coefficients into row ``row`` of ``maps`` and its input x weight terms
    into ``products``; return its constant part.

    ``value`` must be affine in every parameter but for products of one input and one weight.
    """
    if not isinstance(value, ParameterExpression):
        return float(value)
    params = value.parameters
    zero = {p: 0.0 for p in params}
    for param in params:
        if param not in index:
            raise EngineError(f"angle {value} uses {param}, which is neither an input nor a weight")
        which, column = index[param]
        grad = value.gradient(param)
        if isinstance(grad, ParameterExpression) and grad.parameters:
            for other in grad.parameters:
                second = grad.gradient(other)
                if not isinstance(second, ParameterExpression) and second == 0:
                    continue  # Qiskit lists parameters a derivative no longer depends on
                bilinear = (
                    other in index
                    and index[other][0] != which
                    and not (isinstance(second, ParameterExpression) and second.parameters)
                )
                if not bilinear:
                    raise EngineError(
                        f"angle {value} is not affine in its parameters (d/d{param} = {grad}); "
                        "the torch engine supports affine angles and input x weight products"
                    )
                if which == 0:  # recorded once, from the input's side
                    coeff = _number(second, f"angle {value}'s coefficient of {param}*{other}")
                    products.append((row, column, index[other][1], coeff))
            grad = grad.bind({p: 0.0 for p in grad.parameters})
        maps[which][row, column] += _number(grad, f"angle {value}'s coefficient of {param}")
    constant = value.bind(zero) if params else value
    return _number(constant, f"angle {value}'s constant part")


def lower_circuit(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
) -> GateProgram:
    """Lower a basis-gate circuit into a :class:`GateProgram`.

    Args:
        circuit: A circuit of ``rx, ry, rz, h, x, cx, cz`` gates (e.g.
            :attr:`CompiledModel.decomposed <qmoe_qiskit.models.circuit.CompiledModel.decomposed>`);
            barriers are skipped.
        input_params: Input parameters, in input-column order.
        weight_params: Weight parameters, in weight order.

    Returns:
        The gate program.

    Raises:
        EngineError: For another gate, a classical operation, a parameter that is neither input
            nor weight, or an angle that is not an affine function of the parameters (up to
            products of one input and one weight).
    """
    index: dict[Parameter, tuple[int, int]] = {p: (0, i) for i, p in enumerate(input_params)}
    index.update({p: (1, i) for i, p in enumerate(weight_params)})
    rotations = sum(1 for inst in circuit.data if inst.operation.name in ROTATION_GATES)
    maps = [np.zeros((rotations, len(input_params))), np.zeros((rotations, len(weight_params)))]
    offset = np.zeros(rotations)
    gates: list[Gate] = []
    rows: list[int] = []
    products: list[tuple[int, int, int, float]] = []
    for inst in circuit.data:
        op = inst.operation
        if op.name == "barrier":
            continue
        if inst.clbits or getattr(op, "condition", None) is not None:
            raise EngineError(f"classical operation {op.name!r} is not supported")
        qubits = tuple(circuit.find_bit(q).index for q in inst.qubits)
        if op.name in ROTATION_GATES:
            row = len(rows)
            rows.append(row)
            offset[row] = _lower_angle(op.params[0], index, row, maps, products)
            gates.append(Gate(op.name, qubits, row))
        elif op.name in CONSTANT_GATES or op.name in TWO_QUBIT_GATES:
            gates.append(Gate(op.name, qubits))
        else:
            allowed = ", ".join(ROTATION_GATES + CONSTANT_GATES + TWO_QUBIT_GATES)
            raise EngineError(
                f"gate {op.name!r} is not supported by the torch engine (allowed: {allowed}); "
                "transpile the circuit to these basis gates first"
            )
    terms = np.array([t[:3] for t in products], dtype=np.int64).reshape(-1, 3)
    coeffs = np.array([t[3] for t in products], dtype=float)
    return GateProgram(circuit.num_qubits, tuple(gates), maps[0], maps[1], offset, terms, coeffs)
