"""DiffQAS architectures simulated together, layer by layer, as one batch.

Every DiffQAS-QT candidate (:mod:`qmoe_qiskit.circuits.diffqas`) is an optional Hadamard layer
followed by layers of (fixed CNOT entangler, one rotation type on every qubit). That structure
lets all architectures of a :class:`~qmoe_qiskit.models.diffqas.DiffQASSpace` run as one batch
of states ``(architectures, 2**n)``:

* an entangler is a permutation of basis states, applied as one ``gather`` whose index differs
  per architecture;
* a rotation layer is a tensor product of ``n`` single-qubit rotations; the qubits are split
  into groups of at most ``group`` qubits and each group's Kronecker product (``2**g x 2**g``,
  built for all architectures and layers at once) is applied with one batched ``einsum``;
* Hadamard layers are the same group products with ``H`` (identity for architectures without).

A layer therefore costs a handful of batched tensor operations instead of one per gate, which is
what the per-step cost of Quantum-Train (one generator evaluation per mini-batch) depends on.
The result is checked against ``Statevector`` of each architecture's Qiskit circuit in the
tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ...circuits.diffqas import CANDIDATES, diffqas_entangler
from ...errors import EngineError
from ...models.diffqas import DiffQASSpace

__all__ = ["TorchLayeredProbabilities", "entangler_permutation"]

_ROTATION = {"rx": 0, "ry": 1, "rz": 2}
# exp(-i t P / 2) = cos(t/2) I + sin(t/2) S_P.
_SINE = np.array([[[0, -1j], [-1j, 0]], [[0, -1], [1, 0]], [[-1j, 0], [0, 1j]]], dtype=complex)


def entangler_permutation(num_qubits: int, kind: str) -> np.ndarray:
    """Gather index of a DiffQAS entangler: ``new_state = state[index]`` (Qiskit order)."""
    index = np.arange(2**num_qubits)
    basis = np.arange(2**num_qubits)
    circuit = diffqas_entangler(num_qubits, kind)
    for instruction in circuit.data:
        control, target = (circuit.find_bit(q).index for q in instruction.qubits)
        flip = ((basis >> control) & 1) << target
        index = index[basis ^ flip]
    return index


def _groups(num_qubits: int, width: int) -> list[tuple[int, int]]:
    """Contiguous qubit ranges ``(low, size)`` covering all qubits, at most ``width`` each."""
    count = math.ceil(num_qubits / width)
    base, extra = divmod(num_qubits, count)
    groups, low = [], 0
    for g in range(count):
        size = base + (1 if g < extra else 0)
        groups.append((low, size))
        low += size
    return groups


def _kron(factors: torch.Tensor) -> torch.Tensor:
    """Kronecker product over axis -3 of ``(..., k, 2, 2)``, first factor most significant."""
    out = factors[..., 0, :, :]
    for j in range(1, factors.shape[-3]):
        f = factors[..., j, :, :]
        d = out.shape[-1]
        out = (out[..., :, None, :, None] * f[..., None, :, None, :]).reshape(
            *out.shape[:-2], 2 * d, 2 * d
        )
    return out


class TorchLayeredProbabilities(nn.Module):
    """Basis probabilities of several architectures of one DiffQAS space, as one batch.

    Args:
        space: The search space.
        architectures: The architectures to run (one paper index per ensemble layer each).
        group: Largest qubit group whose rotations are multiplied out into one matrix (default
            4 up to 12 qubits, 5 above: fewer passes over the larger state; measured on 2 cores).
        device: Torch device.

    ``forward(theta)`` maps the shared angles ``(space.num_theta,)`` to probabilities
    ``(len(architectures), 2**n)`` in Qiskit index order, differentiable in ``theta``; float32
    angles are simulated in complex64 (probabilities in float32), others in complex128.
    """

    # Buffers (declared so that attribute access is typed, not nn.Module's ``Tensor | Module``).
    _sine: torch.Tensor
    _perms: torch.Tensor
    _hadamard: torch.Tensor
    _h: torch.Tensor
    _eye: torch.Tensor

    def __init__(
        self,
        space: DiffQASSpace,
        architectures: Sequence[Sequence[int]],
        *,
        group: int | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        self.space = space
        self.architectures = [tuple(a) for a in architectures]
        n = space.num_qubits
        self.groups = _groups(n, group or (4 if n <= 12 else 5))
        steps = space.layers * space.depth
        rotation = np.zeros((len(self.architectures), steps), dtype=np.int64)
        perms = np.zeros((steps, len(self.architectures), 2**n), dtype=np.int64)
        hadamard = np.zeros((space.layers, len(self.architectures)), dtype=bool)
        cache: dict[str, np.ndarray] = {}
        for a, arch in enumerate(self.architectures):
            if len(arch) != space.layers:
                raise EngineError(f"architecture {arch} does not have {space.layers} entries")
            for m, index in enumerate(arch):
                candidate = CANDIDATES[index - 1]
                hadamard[m, a] = candidate.hadamard
                if candidate.entangler not in cache:
                    cache[candidate.entangler] = entangler_permutation(n, candidate.entangler)
                for layer in range(space.depth):
                    t = m * space.depth + layer
                    rotation[a, t] = _ROTATION[candidate.rotation]
                    perms[t, a] = cache[candidate.entangler]
        self.register_buffer("_sine", torch.as_tensor(_SINE[rotation]))  # (A, T, 2, 2)
        self.register_buffer("_perms", torch.as_tensor(perms))
        self.register_buffer("_hadamard", torch.as_tensor(hadamard))
        h = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
        self.register_buffer("_h", torch.as_tensor(h))
        self.register_buffer("_eye", torch.eye(2, dtype=torch.complex128))
        self.to(device)

    def _group_matrices(self, factors: torch.Tensor) -> list[torch.Tensor]:
        """Per qubit group, the Kronecker product of per-qubit factors ``(..., n, 2, 2)``:
        ``(..., 2**g, 2**g)``, most significant qubit of the group first."""
        return [_kron(factors[..., low : low + size, :, :].flip(-3)) for low, size in self.groups]

    def _apply_groups(self, state: torch.Tensor, matrices: Sequence[torch.Tensor]) -> torch.Tensor:
        """Apply one ``(A, 2**g, 2**g)`` matrix per group to ``state`` ``(A, 2**n)``."""
        n = self.space.num_qubits
        batch = state.shape[0]
        for (low, size), matrix in zip(self.groups, matrices, strict=True):
            view = state.reshape(batch, 2 ** (n - low - size), 2**size, 2**low)
            state = torch.einsum("aij,aljr->alir", matrix, view).reshape(batch, 2**n)
        return state

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        """Probabilities ``(architectures, 2**n)`` for the shared angles ``theta``."""
        space = self.space
        n, batch = space.num_qubits, len(self.architectures)
        if theta.shape != (space.num_theta,):
            raise EngineError(f"expected {space.num_theta} angles, got shape {tuple(theta.shape)}")
        # float32 angles run in complex64, anything else in float64 / complex128.
        real = torch.float32 if theta.dtype == torch.float32 else torch.float64
        complex_ = torch.complex64 if real == torch.float32 else torch.complex128
        eye, h = self._eye.to(complex_), self._h.to(complex_)
        half = 0.5 * theta.to(real).reshape(1, -1, n, 1, 1)  # (1, T, n, 1, 1)
        sine = self._sine.to(complex_)[:, :, None]  # (A, T, 1, 2, 2)
        rotations = torch.cos(half) * eye + torch.sin(half) * sine  # (A, T, n, 2, 2)
        # Every layer's group matrices at once: (A, T, 2**g, 2**g) per group.
        matrices = self._group_matrices(rotations)
        state = torch.zeros(batch, 2**n, dtype=complex_, device=theta.device)
        state[:, 0] = 1
        for m in range(space.layers):
            has_h = self._hadamard[m]
            if bool(has_h.any()):
                factor = torch.where(has_h[:, None, None], h, eye)
                hadamards = self._group_matrices(factor[:, None].expand(batch, n, 2, 2))
                state = self._apply_groups(state, hadamards)
            for layer in range(space.depth):
                t = m * space.depth + layer
                state = torch.gather(state, 1, self._perms[t])
                state = self._apply_groups(state, [g[:, t] for g in matrices])
        return torch.view_as_real(state).square().sum(-1)
