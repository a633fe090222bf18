"""Quantum-Train: the paper's parameter counts, the weight generation written out by hand,
functional execution, and the saved classical network used with no quantum code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from qmoe_qiskit.engines import probability_factory
from qmoe_qiskit.models.classical import LSTMRegressor, count_parameters, mlp
from qmoe_qiskit.models.diffqas import DiffQASSpace
from qmoe_qiskit.models.quantum_train import POST_PROCESSING, QuantumTrain, basis_bits, qubits_for


@pytest.mark.parametrize(
    ("network", "qubits", "depth", "trained"),
    [
        (mlp([784, 128, 64, 2]), 17, 15, 286),
        (LSTMRegressor(), 11, 10, 135),
        (mlp([147, 32, 32, 7]), 13, 10, 157),
        (mlp([147, 32, 32, 1]), 13, 10, 157),
    ],
)
def test_paper_parameter_counts(network, qubits, depth, trained):
    # Counts of the classical networks: 108,866; 1,781; 6,023; 5,825 (paper Sec. VI).
    classical = {286: 108_866, 135: 1_781}.get(trained)
    if classical:
        assert count_parameters(network) == classical
    assert qubits_for(count_parameters(network)) == qubits
    space = DiffQASSpace(qubits, depth)
    # Counted without building the 17-qubit generator: angles + 12 logits + Linear(n + 1, 1).
    assert space.num_weights + (qubits + 2) == trained


def test_actor_critic_counts():
    assert count_parameters(mlp([147, 32, 32, 7])) == 6_023
    assert count_parameters(mlp([147, 32, 32, 1])) == 5_825


def test_compression_report_of_the_lstm():
    model = QuantumTrain(LSTMRegressor(), DiffQASSpace(11, 10), probability_factory("torch"))
    c = model.compression()
    assert (c["classical_parameters"], c["trained_parameters"]) == (1781, 135)
    assert c["ratio"] == pytest.approx(1781 / 135)
    assert model.num_trained == sum(p.numel() for p in model.parameters())


def test_basis_bits_are_plus_minus_one_msb_first():
    bits = basis_bits(3, 6)
    assert bits.tolist()[5] == [1, -1, 1]  # 5 = 0b101
    assert bits.tolist()[1] == [-1, -1, 1]


def test_generated_weights_written_out_from_statevector():
    network = mlp([3, 2, 2])  # 14 parameters -> 4 qubits
    space = DiffQASSpace(4, 2, (2, 5, 7))
    model = QuantumTrain(network, space, probability_factory("torch"), seed=5)
    with torch.no_grad():
        model.generator.logits.copy_(torch.tensor([[0.3, -0.2, 0.5]], dtype=torch.float64))
    theta = model.generator.theta.detach().numpy()
    w = torch.softmax(model.generator.logits.detach()[0], 0).numpy()
    probs = sum(
        w[i] * Statevector(space.circuit((c,), list(theta))).probabilities()
        for i, c in enumerate((2, 5, 7))
    )
    # Weight i is the basis state whose bits, qubit 0 first, spell i.
    n, p = 4, 14
    reordered = np.array(
        [probs[sum(((i >> (n - 1 - q)) & 1) << q for q in range(n))] for i in range(p)]
    )
    beta, gamma, alpha = POST_PROCESSING
    x = (beta * np.tanh(gamma * 2 ** (n - 1) * reordered)) ** alpha
    x -= x.mean()
    bits = np.array([[1.0 if (i >> (n - 1 - q)) & 1 else -1.0 for q in range(n)] for i in range(p)])
    a = model.mapping.weight.detach().numpy()[0]
    b = model.mapping.bias.item()
    kappa = bits @ a[:n] + x * a[n] + b
    kappa -= kappa.mean()
    np.testing.assert_allclose(model.generated_weights().detach().numpy(), kappa, atol=1e-12)


def test_saved_state_dict_runs_without_quantum_code(tmp_path):
    model = QuantumTrain(LSTMRegressor(), DiffQASSpace(11, 2), probability_factory("torch"))
    x = torch.randn(7, 4, dtype=torch.float64)
    expected = model(x).detach()
    torch.save(model.classical_state_dict(), tmp_path / "classical.pt")
    plain = LSTMRegressor().double()
    plain.load_state_dict(torch.load(tmp_path / "classical.pt"))
    np.testing.assert_allclose(plain(x).detach().numpy(), expected.numpy(), atol=1e-12)


def test_training_updates_generator_and_mapping_only():
    model = QuantumTrain(mlp([2, 3, 1]), DiffQASSpace(4, 2), probability_factory("torch"))
    template = [p.clone() for p in model.network.parameters()]
    x = torch.randn(16, 2, dtype=torch.float64)
    y = x.sum(dim=1, keepdim=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(torch.equal(a, b) for a, b in zip(template, model.network.parameters(), strict=True))
    names = {name for name, _ in model.named_parameters()}
    assert names == {"generator.theta", "generator.logits", "mapping.weight", "mapping.bias"}


def test_wrong_generator_width_is_refused():
    with pytest.raises(ValueError, match="needs a 11-qubit generator"):
        QuantumTrain(LSTMRegressor(), DiffQASSpace(10, 2), probability_factory("torch"))
    assert qubits_for(1) == 1 and qubits_for(2048) == 11 and qubits_for(2049) == 12
    assert math.ceil(math.log2(108_866)) == 17


def test_fan_in_mapping_init_gives_the_networks_default_weight_scale():
    network = mlp([64, 32, 2])
    default = torch.cat([p.detach().reshape(-1) for p in network.parameters()]).std().item()
    space = DiffQASSpace(qubits_for(count_parameters(network)), 2)
    torch_init = QuantumTrain(network, space, probability_factory("torch"), seed=1)
    fan_in = QuantumTrain(
        network, space, probability_factory("torch"), seed=1, mapping_init="fan-in"
    )
    with torch.no_grad():
        small = fan_in.generated_weights().std().item()
        large = torch_init.generated_weights().std().item()
    assert 0.5 * default < small < 2 * default
    assert large > 5 * default
    with pytest.raises(ValueError, match="mapping_init must be one of"):
        QuantumTrain(network, space, probability_factory("torch"), mapping_init="zeros")


def test_compile_reports_the_compression_of_qt_networks(capsys):
    import json

    from qmoe_qiskit.cli import main

    assert main(["compile", "qt-lstm", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["classical_parameters"], summary["trained_parameters"]) == (1781, 135)


def test_float32_model_computes_in_float32_and_agrees_with_float64():
    network = mlp([3, 4, 1])  # 21 parameters -> 5 qubits
    space = DiffQASSpace(5, 2)
    factory = probability_factory("torch")
    double = QuantumTrain(network, space, factory, seed=4)
    single = QuantumTrain(network, space, factory, seed=4, dtype=torch.float32)
    assert {p.dtype for p in single.parameters()} == {torch.float32}
    assert single.generator().dtype == torch.float32
    # The same draws, rounded: the float32 model's weights equal the float64 model's to 1e-6.
    for a, b in zip(single.parameters(), double.parameters(), strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6)
    x = torch.randn(5, 3, dtype=torch.float64)
    out = single(x)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.detach().numpy(), double(x).detach().numpy(), atol=1e-5)
    out.sum().backward()
    assert single.generator.theta.grad is not None
    assert single.generator.theta.grad.dtype == torch.float32


def test_normal_angle_init_starts_every_circuit_near_the_identity():
    space = DiffQASSpace(4, 3)
    model = QuantumTrain(
        mlp([2, 3, 1]), space, probability_factory("torch"), seed=2, angle_init="normal"
    )
    theta = model.generator.theta.detach()
    assert theta.abs().max() < 0.06 and 0.005 < theta.std() < 0.015  # 0.01 * N(0, 1)
    # Candidates without a Hadamard layer start with probability ~1 on |0000>, checked on
    # Statevector of the candidate circuit at these angles.
    probs = Statevector(space.circuit((9,), list(theta.numpy()))).probabilities()
    assert probs[0] > 0.99
    with pytest.raises(ValueError, match="angle_init must be one of"):
        QuantumTrain(mlp([2, 3, 1]), space, probability_factory("torch"), angle_init="zero")
