"""The torch statevector engine as an ``nn.Module``: batched, fused, differentiable."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ...errors import EngineError
from ...models import CompiledModel, require_circuit_model
from ..devices import resolve_torch_device
from .allocator import RETAIN_ENV, retain_freed_memory
from .blocks import block_groups, branch_gates, build_group_matrices, signed_permutation
from .fusion import ExecutionPlan, choose_block_qubits, coalesce_permutation, plan_execution
from .lowering import GateProgram, lower_circuit
from .observables import ObservableTable, layout_to_canonical, observable_table

__all__ = ["TorchStatevectorNetwork", "rows_within"]

_REAL = {torch.complex128: torch.float64, torch.complex64: torch.float32}

#: Per-sample blocks are built layered when ``batch * layers * 8**k`` (their multiply-adds)
#: stays below this many per gate of the gate-by-gate build (measured on 2 CPU cores).
LAYERED_WORK_PER_GATE = 16384

# exp(-i theta P / 2) = cos(theta/2) I - i sin(theta/2) P: the matrix multiplying sin(theta/2).
_SINE_PART = {
    "rx": ((0, -1j), (-1j, 0)),
    "ry": ((0, -1), (1, 0)),
    "rz": ((-1j, 0), (0, 1j)),
}
_CONSTANT = {
    "h": ((1 / math.sqrt(2), 1 / math.sqrt(2)), (1 / math.sqrt(2), -1 / math.sqrt(2))),
    "x": ((0, 1), (1, 0)),
    "z": ((1, 0), (0, -1)),
}


def rows_within(memory_gb: float, bytes_per_row: int) -> int:
    """Most rows whose ``bytes_per_row`` fit in ``memory_gb`` (at least one)."""
    return max(1, int(memory_gb * 1e9 // bytes_per_row))


def _product(states: list[torch.Tensor], fresh: int) -> torch.Tensor:
    """Tensor product of register states ``(1 or batch, 2**m)`` (first most significant), then
    ``fresh`` qubits in ``|0>`` (least significant)."""
    out = states[0]
    for other in states[1:]:
        out = (out[:, :, None] * other[:, None, :]).reshape(-1, out.shape[1] * other.shape[1])
    if fresh:
        out = nn.functional.pad(out[:, :, None], (0, 2**fresh - 1)).reshape(out.shape[0], -1)
    return out


class TorchStatevectorNetwork(nn.Module):
    """A compiled model executed as a batched statevector in torch, differentiable by autograd.

    Drop-in for :func:`qmoe_qiskit.engines.aer.build_torch_network`: ``weight`` is the flat weight
    vector in ``model.weight_params`` order, and ``forward`` maps inputs ``(batch, features)``
    to class expectations ``(batch, classes)``. The model's decomposed circuit is lowered to
    gates with affine angle maps, fused into blocks of at most ``block_qubits`` active qubits
    (plus control qubits, one matrix per control value) and applied to independent registers
    that are merged into the ``(batch, 2**n)`` state as gates entangle them; inputs may require
    grad.

    Args:
        model: The compiled model.
        weights: Initial weights (default: ``model.initial_weights(0)``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        dtype: ``torch.complex128`` (outputs float64) or ``torch.complex64`` (outputs float32).
        block_qubits: Largest number of active qubits per fused block (default: the width
            whose plan does the least estimated work, :func:`~.fusion.choose_block_qubits`).
        merge_blocks: Merge consecutive blocks where one pass over the state costs less than
            two (passed to :func:`~.fusion.plan_execution`; off: the blocks as fused).
        retain_memory: On CPU, call :func:`~.allocator.retain_freed_memory` (process-wide:
            glibc keeps freed memory for reuse instead of page-faulting every new state
            tensor; 1.8x faster steps at 14 qubits, batch 256, for 1.5x the peak memory).
            Default: off, unless the environment variable :data:`~.allocator.RETAIN_ENV` is
            ``"1"`` (the ``qmoe`` command line sets it: a library call never changes the
            caller's allocator unasked).
        memory_gb: Budget, in GB, for the states one pass keeps (default: none). A training
            pass keeps the state after every fused block for the backward pass, about
            ``(blocks + 2) x rows x 2**n`` amplitudes; a batch larger than the budget allows
            (:attr:`rows_per_pass`) runs in slices of rows, each under activation
            checkpointing (its states are recomputed during the backward pass instead of
            kept), so the budget bounds the peak and the gradients are those of the whole
            batch (sums over the slices). An evaluation pass (no gradient) keeps about three
            states per row and is sliced the same way.
    """

    # Buffers registered in _build_buffers (declared so that attribute access is typed: nn.Module's
    # __getattr__ would give ``Tensor | Module``).
    _in_map: torch.Tensor
    _in_wmap: torch.Tensor
    _in_off: torch.Tensor
    _sh_wmap: torch.Tensor
    _sh_off: torch.Tensor
    _pr_col: torch.Tensor
    _pr_in: torch.Tensor
    _pr_w: torch.Tensor
    _pr_c: torch.Tensor
    _in_sine: torch.Tensor
    _sh_sine: torch.Tensor
    _eye2: torch.Tensor
    _const_h: torch.Tensor
    _const_x: torch.Tensor
    _const_z: torch.Tensor
    _obs_weights: torch.Tensor
    _obs_partners: torch.Tensor
    _obs_diagonal: torch.Tensor | None
    _layout: torch.Tensor

    def __init__(
        self,
        model: CompiledModel,
        weights: np.ndarray | None = None,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.complex128,
        block_qubits: int | None = None,
        merge_blocks: bool = True,
        retain_memory: bool | None = None,
        memory_gb: float | None = None,
    ) -> None:
        super().__init__()
        if memory_gb is not None and not (math.isfinite(memory_gb) and memory_gb > 0):
            raise EngineError(f"memory_gb must be a positive number of GB, got {memory_gb}")
        if hasattr(model, "circuit_model"):  # a model family's: refuse one with classical parts
            model = require_circuit_model(model, "TorchStatevectorNetwork")
        if dtype not in _REAL:
            raise EngineError(f"dtype must be torch.complex128 or torch.complex64, got {dtype}")
        self.model = model
        self.dtype = dtype
        self.real_dtype = _REAL[dtype]
        self.device = resolve_torch_device(device)
        if retain_memory is None:
            retain_memory = os.environ.get(RETAIN_ENV) == "1"
        if retain_memory and self.device.type == "cpu":
            retain_freed_memory()
        self.program: GateProgram = lower_circuit(
            model.decomposed, model.input_params, model.weight_params
        )
        width = block_qubits or choose_block_qubits(self.program)
        self.plan: ExecutionPlan = plan_execution(self.program, width, merge_blocks)
        self._layout_copies = {
            s: coalesce_permutation(step.permute)
            for s, step in enumerate(self.plan.steps)
            if step.permute is not None
        }
        self.table: ObservableTable | None = (
            observable_table(model.observables, self.plan.final_order)
            if len(model.observables)
            else None
        )
        if weights is None:
            weights = model.initial_weights(0)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (model.num_weights,):
            raise EngineError(f"expected {model.num_weights} weights, got shape {weights.shape}")
        self.weight = nn.Parameter(torch.tensor(weights, dtype=torch.float64))
        self.memory_gb = memory_gb
        self._build_buffers()
        self.to(self.device)

    def stored_bytes_per_row(self, training: bool = True) -> int:
        """Bytes of state one input row keeps during a pass: ``(blocks + 2)`` states for a
        training pass (autograd keeps each block's output), three for an evaluation pass."""
        state = 2**self.plan.num_qubits * torch.empty((), dtype=self.dtype).element_size()
        return (len(self.plan.steps) + 2 if training else 3) * state

    def rows_per_pass(self, training: bool = True) -> int | None:
        """Most input rows one pass takes within :attr:`memory_gb` (at least one), or None
        without a budget."""
        if self.memory_gb is None:
            return None
        return rows_within(self.memory_gb, self.stored_bytes_per_row(training))

    def _build_buffers(self) -> None:
        program, rdt = self.program, torch.float64
        depends = program.input_dependent()
        rotation = {g.angle: g.name for g in program.gates if g.angle >= 0}
        batched = np.flatnonzero(depends)
        shared = np.flatnonzero(~depends)
        parts = [_SINE_PART[rotation[a]] for a in range(program.num_angles)]
        sine = torch.tensor(np.array(parts, dtype=complex).reshape(-1, 2, 2), dtype=self.dtype)
        self.register_buffer("_in_map", torch.as_tensor(program.input_map[batched], dtype=rdt))
        self.register_buffer("_in_wmap", torch.as_tensor(program.weight_map[batched], dtype=rdt))
        self.register_buffer("_in_off", torch.as_tensor(program.offset[batched], dtype=rdt))
        self.register_buffer("_sh_wmap", torch.as_tensor(program.weight_map[shared], dtype=rdt))
        self.register_buffer("_sh_off", torch.as_tensor(program.offset[shared], dtype=rdt))
        # Input x weight products (trainable re-uploading), by column of the batched angles.
        column = {int(a): i for i, a in enumerate(batched)}
        rows, inputs, wcols = program.products.T
        self.register_buffer("_pr_col", torch.as_tensor([column[int(a)] for a in rows]).long())
        self.register_buffer("_pr_in", torch.as_tensor(inputs).long())
        self.register_buffer("_pr_w", torch.as_tensor(wcols).long())
        self.register_buffer("_pr_c", torch.as_tensor(program.product_coeffs, dtype=rdt))
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
        # Blocks with input-dependent angles are built per sample: layered like the weight-only
        # ones (few operations, more arithmetic) for small batches, gate by gate otherwise.
        grouped = {s for group in self.groups for s in group.steps}
        self._per_sample = tuple(s for s in range(len(self.plan.steps)) if s not in grouped)
        self.sample_groups = block_groups(program, self.plan, self._per_sample)
        for g, group in enumerate(self.sample_groups):
            self.register_buffer(f"_sruns_{g}", torch.as_tensor(group.runs))
            self.register_buffer(f"_ssources_{g}", torch.as_tensor(group.sources))
            self.register_buffer(f"_ssigns_{g}", torch.as_tensor(group.signs, dtype=self.dtype))
        # Per sample, the layered build's multiply-adds and the gate-by-gate build's operations.
        self._layered_work = sum(
            g.runs.shape[0] * g.runs.shape[1] * 8**g.width for g in self.sample_groups
        )
        self._gate_ops = sum(len(self.plan.steps[s].block.gates) for s in self._per_sample)
        # slot[angle] = (is_batched, column in its group)
        self._slot = {int(a): (True, i) for i, a in enumerate(batched)}
        self._slot.update({int(a): (False, i) for i, a in enumerate(shared)})
        # Per-sample steps: row sources (cx) or signs (cz) of each two-qubit gate.
        self._two_qubit: dict[tuple[int, int, int, str], str] = {}
        self._branches = {s: branch_gates(program, self.plan.steps[s]) for s in self._per_sample}
        for s in self._per_sample:
            step = self.plan.steps[s]
            k = len(step.local)
            position = {q: j for j, q in enumerate(step.local)}
            for gate in (g for branch in self._branches[s] for g in branch):
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
            # Diagonal weights for the interleaved (re, im) view of the state.
            diagonal = (
                weights[0].real.repeat_interleave(2, 0) if self.table.masks[:1] == (0,) else None
            )
            self.register_buffer("_obs_diagonal", diagonal)
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
        angle_in = x @ self._in_map.T + (self._in_wmap @ w + self._in_off)
        if len(self._pr_c):
            terms = x[:, self._pr_in] * (self._pr_c * w[self._pr_w])
            angle_in = angle_in.index_add(1, self._pr_col, terms)
        half_in = 0.5 * angle_in
        half_sh = 0.5 * (self._sh_wmap @ w + self._sh_off)
        mats = []
        for half, sine in ((half_in, self._in_sine), (half_sh, self._sh_sine)):
            half = half.to(self.real_dtype)
            cos = torch.cos(half)[..., None, None]
            sin = torch.sin(half)[..., None, None]
            mats.append(cos * self._eye2 + sin * sine)
        return mats[0], mats[1]

    def _block_matrix(
        self, s: int, batched: Sequence[torch.Tensor], shared: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """Step ``s``'s matrices, ``(1 or batch, 2**c, 2**k, 2**k)``, built by applying gates."""
        step = self.plan.steps[s]
        branches = [self._branch_matrix(step, g, batched, shared) for g in self._branches[s]]
        if len(branches) == 1:
            return branches[0][:, None]
        rows = max(b.shape[0] for b in branches)
        return torch.stack([b.expand(rows, -1, -1) for b in branches], 1)

    def _branch_matrix(
        self, step, gates, batched: Sequence[torch.Tensor], shared: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """One control value's matrix, ``(1 or batch, 2**k, 2**k)``, built gate by gate."""
        k = len(step.local)
        dim = 2**k
        position = {q: j for j, q in enumerate(step.local)}
        matrix = torch.eye(dim, dtype=self.dtype, device=self.device)[None]
        for gate in gates:
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

    def _build_groups(self, groups, prefix: str, table: torch.Tensor, matrices: list) -> None:
        """Build ``groups`` from the factor ``table`` into ``matrices`` (a list by plan step)."""
        for g, group in enumerate(groups):
            built = build_group_matrices(
                table,
                getattr(self, f"_{prefix}runs_{g}"),
                getattr(self, f"_{prefix}sources_{g}"),
                getattr(self, f"_{prefix}signs_{g}"),
            )
            start = 0
            for step in dict.fromkeys(group.steps):
                count = 2 ** len(self.plan.steps[step].controls)
                matrices[step] = built[:, start : start + count]
                start += count

    def _block_matrices(self, batched: torch.Tensor, shared: torch.Tensor) -> list[torch.Tensor]:
        """Every step's matrices, ``(1 or batch, 2**c, 2**k, 2**k)``, in plan order."""
        fixed = torch.stack([self._eye2, self._const_h, self._const_x, self._const_z])
        table = torch.cat([fixed, shared])[None]
        matrices: list[torch.Tensor | None] = [None] * len(self.plan.steps)
        self._build_groups(self.groups, "", table, matrices)
        rows = batched.shape[0]
        layered = rows * self._layered_work < LAYERED_WORK_PER_GATE * self._gate_ops
        if self._per_sample and layered:
            table = torch.cat([table.expand(rows, -1, -1, -1), batched], 1)
            self._build_groups(self.sample_groups, "s", table, matrices)
        elif self._per_sample:
            columns = (batched.unbind(1), shared.unbind(0))  # one backward node, not one per gate
            for step in self._per_sample:
                matrices[step] = self._block_matrix(step, *columns)
        built = [m for m in matrices if m is not None]
        assert len(built) == len(matrices), "every plan step is built by one of the builds"
        return built

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class expectations for a batch of inputs.

        Args:
            x: ``(batch, features)`` or ``(features,)`` inputs (any real dtype; may require grad).

        Returns:
            ``(batch, classes)`` expectations (``(classes,)`` for a single input), float64 for
            complex128 and float32 for complex64.
        """
        if self.table is None:
            raise EngineError("this circuit has no observables; use probabilities()")
        single = x.dim() == 1
        x = torch.atleast_2d(x)
        training = torch.is_grad_enabled() and (self.weight.requires_grad or x.requires_grad)
        rows = self.rows_per_pass(training)
        if rows is None or x.shape[0] <= rows:
            out = self._scores(x, self.weight)
        elif training:  # slices whose states are recomputed in the backward pass
            out = torch.cat([
                checkpoint(self._scores, part, self.weight, use_reentrant=False)
                for part in x.split(rows)
            ])  # fmt: skip
        else:
            out = torch.cat([self._scores(part, self.weight) for part in x.split(rows)])
        return out[0] if single else out

    def _scores(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self._expectations(self.statevector(x, weight))

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
        registers: dict[int, torch.Tensor] = {}  # step -> (1 or batch, 2**m) register state
        for s, (step, matrix) in enumerate(zip(self.plan.steps, matrices, strict=True)):
            k, c = len(step.local), len(step.controls)
            if step.starts:  # M |0...0>: the first column of control value 0's matrix
                first = matrix[:, 0, :, 0]
                registers[s] = nn.functional.pad(first, (0, (2**c - 1) * 2**k)) if c else first
                continue
            state = _product([registers.pop(r) for r in step.merge], step.fresh)
            rows, m = state.shape[0], len(step.order)
            if step.permute is not None:  # the layout copy, over merged axes
                qubits, order = self._layout_copies[s]
                state = state.reshape((rows,) + tuple(2**q for q in qubits))
                state = state.permute((0,) + tuple(o + 1 for o in order))
            if matrix.shape[0] == 1 and c == 0:  # one product for the whole batch
                state = state.reshape(rows, 2 ** (m - k), 2**k) @ matrix[0, 0].T
            else:  # (rows, 2**c, rest, 2**k) by (1 or rows, 2**c, 2**k, 2**k)
                state = state.reshape(rows, 2**c, 2 ** (m - k - c), 2**k)
                state = torch.matmul(state, matrix.transpose(-1, -2))
            registers[s] = state.reshape(state.shape[0], 2**m)
        final = [registers.pop(r) for r in self.plan.final_merge]
        if not final:
            final = [torch.ones(1, 1, dtype=self.dtype, device=x.device)]
        return _product(final, self.plan.final_fresh).expand(batch, 2**n)

    def _expectations(self, state: torch.Tensor) -> torch.Tensor:
        if self.table is None or not self.table.masks:
            raise EngineError("this circuit has no observables; use probabilities()")
        total: torch.Tensor | None = None
        for i, mask in enumerate(self.table.masks):
            if mask == 0:  # sum_i w_i (re_i^2 + im_i^2): one square and one product
                assert self._obs_diagonal is not None  # built when mask 0 (first) is present
                flat = torch.view_as_real(state).reshape(state.shape[0], -1)
                term = flat.square() @ self._obs_diagonal
            else:
                partner = state[:, self._obs_partners[i]]
                term = ((partner.conj() * state) @ self._obs_weights[i]).real
            total = term if total is None else total + term
        assert total is not None
        return total
