"""The torch statevector engine as an ``nn.Module``: batched, fused, differentiable."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ...models import CompiledModel
from ..devices import resolve_torch_device
from .blocks import block_groups, build_group_matrices, signed_permutation
from .fusion import ExecutionPlan, plan_execution
from .lowering import GateProgram, lower_circuit
from .observables import ObservableTable, layout_to_canonical, observable_table

__all__ = ["TorchStatevectorNetwork", "default_block_qubits"]

_REAL = {torch.complex128: torch.float64, torch.complex64: torch.float32}

# exp(-i theta P / 2) = cos(theta/2) I - i sin(theta/2) P: the matrix multiplying sin(theta/2).
_SINE_PART = {
    "rx": ((0, -1j), (-1j, 0)),
    "ry": ((0, -1), (1, 0)),
    "rz": ((-1j, 0), (0, 1j)),
}
_CONSTANT = {
    "h": ((1 / math.sqrt(2), 1 / math.sqrt(2)), (1 / math.sqrt(2), -1 / math.sqrt(2))),
    "x": ((0, 1), (1, 0)),
}


def default_block_qubits(num_qubits: int) -> int:
    """Block width used when none is given: 4 qubits up to 11, 5 from 12 (capped at the width).

    Measured on 2 CPU cores (``benchmarks/engines.py`` model, batch 256): at 10 qubits 4-qubit
    blocks beat 3 and 5; at 14 qubits 5-qubit blocks take half the time of 4-qubit ones, since
    fewer blocks mean fewer passes over the larger state.
    """
    return min(4 if num_qubits < 12 else 5, num_qubits)


class TorchStatevectorNetwork(nn.Module):
    """A compiled model executed as a batched statevector in torch, differentiable by autograd.

    Drop-in for :func:`qmoe_qiskit.engines.aer.build_torch_network`: ``weight`` is the flat weight
    vector in ``model.weight_params`` order, and ``forward`` maps inputs ``(batch, features)``
    to class expectations ``(batch, classes)``. The model's decomposed circuit is lowered to
    gates with affine angle maps, fused into dense blocks of at most ``block_qubits`` qubits and
    applied to the ``(batch, 2**n)`` state; inputs may require grad.

    Args:
        model: The compiled model.
        weights: Initial weights (default: ``model.initial_weights(0)``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        dtype: ``torch.complex128`` (outputs float64) or ``torch.complex64`` (outputs float32).
        block_qubits: Largest fused block width (default :func:`default_block_qubits`).
    """

    def __init__(
        self,
        model: CompiledModel,
        weights: np.ndarray | None = None,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.complex128,
        block_qubits: int | None = None,
    ) -> None:
        super().__init__()
        if dtype not in _REAL:
            raise ValueError(f"dtype must be torch.complex128 or torch.complex64, got {dtype}")
        self.model = model
        self.dtype = dtype
        self.real_dtype = _REAL[dtype]
        self.device = resolve_torch_device(device)
        self.program: GateProgram = lower_circuit(
            model.decomposed, model.input_params, model.weight_params
        )
        width = block_qubits or default_block_qubits(model.num_qubits)
        self.plan: ExecutionPlan = plan_execution(self.program, width)
        self.table: ObservableTable | None = (
            observable_table(model.observables, self.plan.final_order)
            if len(model.observables)
            else None
        )
        if weights is None:
            weights = model.initial_weights(0)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (model.num_weights,):
            raise ValueError(f"expected {model.num_weights} weights, got shape {weights.shape}")
        self.weight = nn.Parameter(torch.tensor(weights, dtype=torch.float64))
        self._build_buffers()
        self.to(self.device)

    def _build_buffers(self) -> None:
        program, rdt = self.program, torch.float64
        depends = program.input_dependent()
        rotation = {g.angle: g.name for g in program.gates if g.angle >= 0}
        batched = np.flatnonzero(depends)
        shared = np.flatnonzero(~depends)
        sine = [_SINE_PART[rotation[a]] for a in range(program.num_angles)]
        sine = torch.tensor(np.array(sine, dtype=complex).reshape(-1, 2, 2), dtype=self.dtype)
        self.register_buffer("_in_map", torch.as_tensor(program.input_map[batched], dtype=rdt))
        self.register_buffer("_in_wmap", torch.as_tensor(program.weight_map[batched], dtype=rdt))
        self.register_buffer("_in_off", torch.as_tensor(program.offset[batched], dtype=rdt))
        self.register_buffer("_sh_wmap", torch.as_tensor(program.weight_map[shared], dtype=rdt))
        self.register_buffer("_sh_off", torch.as_tensor(program.offset[shared], dtype=rdt))
        self.register_buffer("_in_sine", sine[batched])
        self.register_buffer("_sh_sine", sine[shared])
        self.register_buffer("_eye2", torch.eye(2, dtype=self.dtype))
        for name, matrix in _CONSTANT.items():
            self.register_buffer(f"_const_{name}", torch.tensor(matrix, dtype=self.dtype))
        # Weight-only blocks: per group, the factor runs and the permutation layers.
        self.groups = block_groups(program, self.plan)
        for g, group in enumerate(self.groups):
            self.register_buffer(f"_runs_{g}", torch.as_tensor(group.runs))
            self.register_buffer(f"_sources_{g}", torch.as_tensor(group.sources))
            self.register_buffer(f"_signs_{g}", torch.as_tensor(group.signs, dtype=self.dtype))
        # Blocks with input-dependent angles are built per sample, gate by gate.
        grouped = {s for group in self.groups for s in group.steps}
        self._per_sample = tuple(s for s in range(len(self.plan.steps)) if s not in grouped)
        # slot[angle] = (is_batched, column in its group)
        self._slot = {int(a): (True, i) for i, a in enumerate(batched)}
        self._slot.update({int(a): (False, i) for i, a in enumerate(shared)})
        # Per-sample steps: row sources (cx) or signs (cz) of each two-qubit gate.
        self._two_qubit: dict[tuple[int, int, str, int], str] = {}
        for s in self._per_sample:
            step = self.plan.steps[s]
            k = len(step.local)
            position = {q: j for j, q in enumerate(step.local)}
            for gate_index in step.block.gates:
                gate = program.gates[gate_index]
                if len(gate.qubits) != 2:
                    continue
                a, b = (position[q] for q in gate.qubits)
                key = (k, a, b, gate.name)
                if key in self._two_qubit:
                    continue
                name = f"_tq_{gate.name}_{k}_{a}_{b}"
                sources, signs = signed_permutation([(gate.name, (a, b))], k)
                if gate.name == "cx":
                    self.register_buffer(name, torch.as_tensor(sources, dtype=torch.long))
                else:
                    self.register_buffer(name, torch.as_tensor(signs, dtype=self.dtype)[:, None])
                self._two_qubit[key] = name
        if self.table is not None:
            weights = torch.as_tensor(self.table.weights, dtype=self.dtype)
            self.register_buffer("_obs_weights", weights)
            self.register_buffer("_obs_partners", torch.as_tensor(self.table.partners))
        # layout[canonical index] = flat index of that basis state in the final state layout.
        canonical = layout_to_canonical(self.plan.final_order)
        layout = np.empty_like(canonical)
        layout[canonical] = np.arange(len(canonical))
        self.register_buffer("_layout", torch.as_tensor(layout))

    def extra_repr(self) -> str:
        widths = [len(s.local) for s in self.plan.steps]
        return (
            f"qubits={self.plan.num_qubits}, gates={len(self.program.gates)}, "
            f"blocks={len(widths)}, max_block={max(widths, default=0)}, dtype={self.dtype}, "
            f"device={self.device}"
        )

    def _gate_matrices(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotation matrices: ``(batch, batched angles, 2, 2)`` and ``(shared angles, 2, 2)``."""
        half_in = 0.5 * (x @ self._in_map.T + (self._in_wmap @ w + self._in_off))
        half_sh = 0.5 * (self._sh_wmap @ w + self._sh_off)
        mats = []
        for half, sine in ((half_in, self._in_sine), (half_sh, self._sh_sine)):
            half = half.to(self.real_dtype)
            cos = torch.cos(half)[..., None, None]
            sin = torch.sin(half)[..., None, None]
            mats.append(cos * self._eye2 + sin * sine)
        return mats[0], mats[1]

    def _block_matrix(self, step, batched: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """The block's matrix, ``(1 or batch, 2**k, 2**k)``, built by applying its gates."""
        k = len(step.local)
        dim = 2**k
        position = {q: j for j, q in enumerate(step.local)}
        matrix = torch.eye(dim, dtype=self.dtype, device=self.device)[None]
        for gate_index in step.block.gates:
            gate = self.program.gates[gate_index]
            if len(gate.qubits) == 2:
                a, b = (position[q] for q in gate.qubits)
                index = getattr(self, self._two_qubit[(k, a, b, gate.name)])
                if gate.name == "cx":
                    matrix = matrix[:, index]
                else:
                    matrix = matrix * index
                continue
            if gate.angle >= 0:
                is_batched, column = self._slot[gate.angle]
                g = batched[column] if is_batched else shared[column][None]
            else:
                g = getattr(self, f"_const_{gate.name}")[None]
            j = position[gate.qubits[0]]
            view = matrix.reshape(matrix.shape[0], 2 ** (k - 1 - j), 2, 2**j * dim)
            matrix = torch.matmul(g[:, None], view).reshape(-1, dim, dim)
        return matrix

    def _block_matrices(self, batched: torch.Tensor, shared: torch.Tensor) -> list[torch.Tensor]:
        """Every step's matrix, ``(1 or batch, 2**k, 2**k)``, in plan order."""
        fixed = torch.stack([self._eye2, self._const_h, self._const_x])
        table = torch.cat([fixed, shared])[None]
        matrices: list[torch.Tensor | None] = [None] * len(self.plan.steps)
        for g, group in enumerate(self.groups):
            built = build_group_matrices(
                table,
                getattr(self, f"_runs_{g}"),
                getattr(self, f"_sources_{g}"),
                getattr(self, f"_signs_{g}"),
            )
            for i, step in enumerate(group.steps):
                matrices[step] = built[:, i]
        if self._per_sample:  # unbind once: one backward node instead of one per gate
            columns = (batched.unbind(1), shared.unbind(0))
            for step in self._per_sample:
                matrices[step] = self._block_matrix(self.plan.steps[step], *columns)
        return matrices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class expectations for a batch of inputs.

        Args:
            x: ``(batch, features)`` or ``(features,)`` inputs (any real dtype; may require grad).

        Returns:
            ``(batch, classes)`` expectations (``(classes,)`` for a single input), float64 for
            complex128 and float32 for complex64.
        """
        if self.table is None:
            raise ValueError("this circuit has no observables; use probabilities()")
        single = x.dim() == 1
        state = self.statevector(torch.atleast_2d(x), self.weight)
        out = self._expectations(state)
        return out[0] if single else out

    def probabilities(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Computational-basis probabilities ``(batch, 2**n)``, index in Qiskit order.

        Args:
            x: ``(batch, features)`` inputs (``(1, 0)`` for a circuit without inputs).
            weight: Weights to use instead of :attr:`weight` (for weights shared between
                circuits); differentiable like :attr:`weight`.
        """
        state = self.statevector(x, self.weight if weight is None else weight)
        probs = torch.view_as_real(state).square().sum(-1)
        return probs[:, self._layout]

    def statevector(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The final states ``(batch, 2**n)`` in the plan's final axis order (not canonical)."""
        x = x.to(device=self.device, dtype=torch.float64)
        batch, n = x.shape[0], self.plan.num_qubits
        batched, shared = self._gate_matrices(x, weight.to(torch.float64))
        matrices = self._block_matrices(batched, shared)
        state = None
        for step, matrix in zip(self.plan.steps, matrices, strict=True):
            k = len(step.local)
            if state is None:
                # |0...0>: the block's first column on the all-zero rest.
                first = matrix[..., 0].expand(batch, 2**k)
                state = torch.zeros(batch, 2 ** (n - k), 2**k, dtype=self.dtype, device=x.device)
                state = torch.cat([first[:, None], state[:, 1:]], dim=1)
                continue
            if step.permute is not None:
                shape = (batch,) + (2,) * n
                axes = (0,) + tuple(p + 1 for p in step.permute)
                state = state.reshape(shape).permute(axes)
            state = state.reshape(batch, 2 ** (n - k), 2**k)
            if matrix.shape[0] == 1:
                state = state @ matrix[0].T
            else:
                state = torch.matmul(state, matrix.transpose(1, 2))
        if state is None:
            state = torch.zeros(batch, 2**n, dtype=self.dtype, device=x.device)
            state[:, 0] = 1
        return state.reshape(batch, 2**n)

    def _expectations(self, state: torch.Tensor) -> torch.Tensor:
        total = None
        for i, mask in enumerate(self.table.masks):
            if mask == 0:
                probs = torch.view_as_real(state).square().sum(-1)
                term = probs @ self._obs_weights[0].real
            else:
                partner = state[:, self._obs_partners[i]]
                term = ((partner.conj() * state) @ self._obs_weights[i]).real
            total = term if total is None else total + term
        return total
