"""Fusion plans of the torch statevector engine: registers, control qubits, per-sample builds.

Every structural claim is checked against an independent dense computation (Qiskit
``Operator`` of the block's gates, ``Statevector`` of the bound circuit).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import Operator

from qmoe_qiskit import compile_model, load_spec
from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork, lower_circuit
from qmoe_qiskit.engines.statevector import network as network_module
from qmoe_qiskit.engines.statevector.blocks import branch_gates
from qmoe_qiskit.engines.statevector.fusion import (
    MAX_CONTROLS,
    choose_block_qubits,
    coalesce_permutation,
    plan_cost,
    plan_execution,
)

from .test_statevector import TOL, random_spec, statevector_outputs


def qmoe_model(num_qubits: int):
    """The engine benchmark's QMoE (2 routing qubits, 4 experts) on ``num_qubits`` qubits."""
    base = load_spec("qmoe-mnist4-rxry")
    spec = dataclasses.replace(
        base,
        experts=dataclasses.replace(base.experts, data_qubits=num_qubits - 2),
        readout=dataclasses.replace(base.readout, head="none"),
    )
    return compile_model(spec)


def dense(gates, qubits, angles: np.ndarray) -> np.ndarray:
    """Unitary of ``gates`` on ``qubits`` (qubit ``qubits[j]`` is bit ``j``) via Qiskit."""
    position = {q: j for j, q in enumerate(qubits)}
    circuit = QuantumCircuit(len(qubits))
    for gate in gates:
        wires = [position[q] for q in gate.qubits]
        args = [angles[gate.angle]] if gate.angle >= 0 else []
        getattr(circuit, gate.name)(*args, *wires)
    return Operator(circuit).data


def test_expert_blocks_are_block_diagonal_in_their_controls():
    model = qmoe_model(8)
    program = lower_circuit(model.decomposed, model.input_params, model.weight_params)
    plan = plan_execution(program, 4)
    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, program.num_angles)
    controlled = [step for step in plan.steps if step.controls]
    experts = [step for step in controlled if set(step.controls) >= {0, 1}]  # routing qubits
    assert len(experts) >= 3
    for step in controlled:
        c, k = len(step.controls), len(step.local)
        qubits = step.local + tuple(reversed(step.controls))  # controls most significant
        full = dense([program.gates[g] for g in step.block.gates], qubits, angles)
        for value, gates in enumerate(branch_gates(program, step)):
            rows = slice(value * 2**k, (value + 1) * 2**k)
            np.testing.assert_allclose(
                full[rows, rows], dense(gates, step.local, angles), atol=1e-12
            )
            off = np.delete(full[rows], np.arange(rows.start, rows.stop), axis=1)
            assert np.abs(off).max() < 1e-12
        assert c <= MAX_CONTROLS and k <= 4


def test_encoders_run_as_separate_registers_until_the_experts():
    model = qmoe_model(10)
    program = lower_circuit(model.decomposed, model.input_params, model.weight_params)
    plan = plan_execution(program, 4)
    depends = program.input_dependent()

    def per_sample(step):
        return any(
            depends[program.gates[g].angle] for g in step.block.gates if program.gates[g].angle >= 0
        )

    starts = [s for s, step in enumerate(plan.steps) if step.starts]
    assert [set(plan.steps[s].order) for s in starts[:2]] == [{0, 1}, {2, 3, 4, 5}]
    joins = [s for s, step in enumerate(plan.steps) if len(step.merge) > 1]
    assert len(joins) == 1  # routing and data registers entangle once, in the expert stage
    first_join = joins[0]
    assert not per_sample(plan.steps[first_join])
    assert all(len(plan.steps[s].order) <= 8 for s in range(first_join))  # data register alone
    assert not any(per_sample(step) and step.controls for step in plan.steps)


@pytest.mark.parametrize("seed", range(12))
def test_blocks_respect_active_and_control_limits(seed):
    model = compile_model(random_spec(seed))
    program = lower_circuit(model.decomposed, model.input_params, model.weight_params)
    for width in (2, 3, 4):
        plan = plan_execution(program, width)
        assert sorted(g for step in plan.steps for g in step.block.gates) == list(
            range(len(program.gates))
        )
        for step in plan.steps:
            assert len(step.local) <= width and len(step.controls) <= MAX_CONTROLS


@pytest.mark.parametrize("layered", [True, False])
@pytest.mark.parametrize("seed", [0, 4, 9])
def test_both_per_sample_builds_match_statevector(monkeypatch, layered, seed):
    monkeypatch.setattr(network_module, "LAYERED_WORK_PER_GATE", 10**12 if layered else 0)
    model = compile_model(random_spec(seed))
    rng = np.random.default_rng(seed)
    w = model.initial_weights(seed)
    x = rng.uniform(0, np.pi, (3, model.num_inputs))
    net = TorchStatevectorNetwork(model, w)
    assert net._per_sample  # the encoder makes per-sample blocks
    out = net(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(out, statevector_outputs(model, x, w), atol=TOL, rtol=0)


def test_layered_and_gate_by_gate_gradients_agree(monkeypatch):
    model = qmoe_model(6)
    x = torch.tensor(np.random.default_rng(1).uniform(0, np.pi, (4, model.num_inputs)))
    grads = []
    for work in (10**12, 0):
        monkeypatch.setattr(network_module, "LAYERED_WORK_PER_GATE", work)
        net = TorchStatevectorNetwork(model, model.initial_weights(1))
        xi = x.clone().requires_grad_(True)
        net(xi).square().sum().backward()
        grads.append((net.weight.grad.numpy(), xi.grad.numpy()))
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_default_width_is_the_cheapest_plan():
    widths = {}
    for n in (6, 10, 14):
        model = qmoe_model(n)
        program = lower_circuit(model.decomposed, model.input_params, model.weight_params)
        chosen = choose_block_qubits(program)
        costs = {w: plan_cost(plan_execution(program, w), program) for w in (3, 4, 5)}
        assert costs[chosen] == min(costs.values())
        widths[n] = chosen
        net = TorchStatevectorNetwork(model)
        assert max(len(step.local) for step in net.plan.steps) == chosen
    assert widths == {6: 4, 10: 3, 14: 5}  # the widths measured fastest (fusion docstring)


@pytest.mark.parametrize(
    ("preset", "width"),
    [("qmoe-mnist4-rx-e2", 4), ("fair-baseline-mnist4-rx-e2", 3), ("fair-baseline-mnist4-rx", 3)],
)
def test_blocks_built_per_sample_are_not_made_wide(preset, width):
    """5-6 qubit presets whose input-dependent gates fused into one 5-qubit block built per
    sample (225 ms a step at batch 32 against 49-85 ms for the chosen plans, measured on 2
    cores): counting the per-sample build keeps those blocks narrow."""
    model = compile_model(load_spec(preset))
    circuit = getattr(model, "circuit_model", model)
    program = lower_circuit(circuit.decomposed, circuit.input_params, circuit.weight_params)
    wide = plan_execution(program, 5)
    assert plan_cost(wide) <= plan_cost(plan_execution(program, width))  # states alone: 5 wins
    assert choose_block_qubits(program) == width


@pytest.mark.parametrize("seed", range(6))
def test_a_coalesced_layout_copy_is_the_same_permutation(seed):
    rng = np.random.default_rng(seed)
    m = 10
    moved = rng.choice(m, size=int(rng.integers(1, 5)), replace=False).tolist()
    if seed % 2:  # a general permutation as well as "these qubits to the end"
        permute = tuple(int(a) for a in rng.permutation(m))
    else:
        permute = tuple(a for a in range(m) if a not in moved) + tuple(moved)
    state = rng.normal(size=(3,) + (2,) * m)
    expected = state.transpose((0,) + tuple(p + 1 for p in permute)).reshape(3, -1)
    qubits, order = coalesce_permutation(permute)
    assert sum(qubits) == m and sorted(order) == list(range(len(qubits)))
    merged = state.reshape((3,) + tuple(2**q for q in qubits))
    got = merged.transpose((0,) + tuple(o + 1 for o in order)).reshape(3, -1)
    np.testing.assert_array_equal(got, expected)
    if seed % 2 == 0:  # kept runs stay whole: at most two axes per moved qubit, plus one
        assert len(qubits) <= 2 * len(moved) + 1


def test_consecutive_expert_blocks_are_merged_and_outputs_match_statevector():
    model = qmoe_model(14)
    program = lower_circuit(model.decomposed, model.input_params, model.weight_params)
    merged = plan_execution(program, 5)
    unmerged = plan_execution(program, 5, merge_blocks=False)
    assert len(merged.steps) <= len(unmerged.steps) - 4  # the two-qubit expert ladder, merged
    for step in merged.steps:
        assert len(step.local) <= 5 and len(step.controls) <= MAX_CONTROLS
    rng = np.random.default_rng(3)
    w = model.initial_weights(3)
    x = rng.uniform(0, np.pi, (3, model.num_inputs))
    net = TorchStatevectorNetwork(model, w, block_qubits=5)
    assert len(net.plan.steps) == len(merged.steps)
    out = net(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(out, statevector_outputs(model, x, w), atol=TOL, rtol=0)


def test_per_sample_flag_is_whether_an_angle_of_the_block_depends_on_an_input():
    model = qmoe_model(10)
    program = lower_circuit(model.decomposed, model.input_params, model.weight_params)
    depends = program.input_dependent()
    for merge in (True, False):
        plan = plan_execution(program, 4, merge_blocks=merge)
        flags = [step.block.per_sample for step in plan.steps]
        assert any(flags) and not all(flags)
        for step, flag in zip(plan.steps, flags, strict=True):
            angles = [program.gates[g].angle for g in step.block.gates]
            assert flag == any(depends[a] for a in angles if a >= 0)


def test_network_without_block_merging_runs_the_unmerged_plan_with_the_same_results():
    model = qmoe_model(14)
    program = lower_circuit(model.decomposed, model.input_params, model.weight_params)
    w = model.initial_weights(4)
    x = torch.tensor(np.random.default_rng(4).uniform(0, np.pi, (3, model.num_inputs)))
    runs = []
    for merge in (True, False):
        net = TorchStatevectorNetwork(model, w, block_qubits=5, merge_blocks=merge)
        assert net.plan == plan_execution(program, 5, merge_blocks=merge)
        inputs = x.clone().requires_grad_(True)
        out = net(inputs)
        (out * torch.arange(1.0, out.shape[1] + 1, dtype=out.dtype)).sum().backward()
        runs.append((len(net.plan.steps), out.detach(), net.weight.grad, inputs.grad))
    (merged_steps, *merged), (unmerged_steps, *unmerged) = runs
    assert unmerged_steps > merged_steps
    for a, b in zip(merged, unmerged, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
