"""Lower a basis-gate circuit with affine angles into a flat gate program.

A :class:`GateProgram` is the circuit as plain data: one :class:`Gate` per instruction, and the
angle of every rotation as an affine map of the inputs and weights,
``angles = inputs @ input_map.T + weights @ weight_map.T + offset``. Everything after this step
is numeric; nothing refers back to Qiskit objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    """

    num_qubits: int
    gates: tuple[Gate, ...]
    input_map: np.ndarray
    weight_map: np.ndarray
    offset: np.ndarray

    @property
    def num_angles(self) -> int:
        """Number of rotation angles (one per rotation gate)."""
        return len(self.offset)

    def input_dependent(self) -> np.ndarray:
        """Boolean mask over angles: whether the angle depends on any input."""
        return np.any(self.input_map != 0, axis=1)

    def angles(self, inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Evaluate all angles in NumPy (reference helper).

        Args:
            inputs: ``(batch, inputs)`` input values.
            weights: ``(weights,)`` weight values.

        Returns:
            ``(batch, angles)`` angle values.
        """
        inputs = np.atleast_2d(np.asarray(inputs, dtype=float))
        return (
            inputs @ self.input_map.T
            + (self.weight_map @ np.asarray(weights, float))
            + (self.offset)
        )


def _affine(
    value: object, index: dict[Parameter, tuple[int, int]], row: int, maps: list[np.ndarray]
) -> float:
    """Write the coefficients of ``value`` into row ``row`` of ``maps``; return its offset."""
    if not isinstance(value, ParameterExpression):
        return float(value)
    params = value.parameters
    for param in params:
        if param not in index:
            raise EngineError(f"angle {value} uses {param}, which is neither an input nor a weight")
        grad = value.gradient(param)
        if isinstance(grad, ParameterExpression):
            if grad.parameters:
                raise EngineError(
                    f"angle {value} is not affine in its parameters (d/d{param} = {grad}); "
                    "the torch engine supports only affine angle expressions"
                )
            grad = grad.numeric()
        if abs(complex(grad).imag) > 0:
            raise EngineError(f"angle {value} has a complex coefficient for {param}")
        which, column = index[param]
        maps[which][row, column] += float(complex(grad).real)
    constant = value.bind({p: 0.0 for p in params}) if params else value
    constant = complex(
        constant.numeric() if isinstance(constant, ParameterExpression) else constant
    )
    if constant.imag:
        raise EngineError(f"angle {value} has a complex constant part")
    return constant.real


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
            nor weight, or an angle that is not an affine function of the parameters.
    """
    index: dict[Parameter, tuple[int, int]] = {p: (0, i) for i, p in enumerate(input_params)}
    index.update({p: (1, i) for i, p in enumerate(weight_params)})
    rotations = sum(1 for inst in circuit.data if inst.operation.name in ROTATION_GATES)
    maps = [np.zeros((rotations, len(input_params))), np.zeros((rotations, len(weight_params)))]
    offset = np.zeros(rotations)
    gates: list[Gate] = []
    rows: list[int] = []
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
            offset[row] = _affine(op.params[0], index, row, maps)
            gates.append(Gate(op.name, qubits, row))
        elif op.name in CONSTANT_GATES or op.name in TWO_QUBIT_GATES:
            gates.append(Gate(op.name, qubits))
        else:
            allowed = ", ".join(ROTATION_GATES + CONSTANT_GATES + TWO_QUBIT_GATES)
            raise EngineError(
                f"gate {op.name!r} is not supported by the torch engine (allowed: {allowed}); "
                "transpile the circuit to these basis gates first"
            )
    return GateProgram(circuit.num_qubits, tuple(gates), maps[0], maps[1], offset)
