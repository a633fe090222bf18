"""The torch statevector engine against independent references.

References: ``qiskit.quantum_info.Statevector`` on the bound logical circuit, Aer's
``EstimatorQNN`` (outputs, weight and input gradients), and central finite differences.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

from qmoe_qiskit import compile_model, load_spec
from qmoe_qiskit.engines.devices import resolve_torch_device, torch_devices
from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork, lower_circuit
from qmoe_qiskit.errors import DeviceError, EngineError
from qmoe_qiskit.spec import OPERATOR_SETS

TOL = 1e-6


def random_spec(seed: int, *, max_qubits: int = 7):
    """A seeded random small spec: operators, encoding, 2-6 experts, aggregation, kind, and the
    router options (trainable re-uploading, couplings to the data register, a wider register)
    and the baseline's (trainable re-uploading, extra rotations)."""
    rng = np.random.default_rng(seed)
    base = load_spec("qmoe-digits4")
    kind = "baseline" if rng.random() < 0.15 else "qmoe"
    while True:
        count = 1 if kind == "baseline" else int(rng.integers(2, 7))
        encoding = str(rng.choice(["binary", "onehot"]))
        data_qubits = int(rng.integers(2, 4))
        route = 0 if kind == "baseline" else (count if encoding == "onehot" else 0)
        route = route or (0 if kind == "baseline" else max(1, int(np.ceil(np.log2(count)))))
        wider = kind == "qmoe" and rng.random() < 0.3
        if route + wider + data_qubits <= max_qubits:
            break
    features = int(rng.integers(4, 17))
    operators = str(rng.choice(OPERATOR_SETS))
    layers = int(rng.integers(1, 3))
    trainable = rng.random() < 0.35
    experts = dataclasses.replace(
        base.experts,
        count=count,
        data_qubits=data_qubits,
        operators=operators,
        layers=layers,
        entangler=str(rng.choice(["cnot-ring", "cnot-chain"])),
        reupload="trainable" if kind == "baseline" and trainable else False,
        features=int(rng.integers(0, features + 1)) if kind == "baseline" and trainable else 0,
        extra_rotations=int(rng.integers(0, 4)) if kind == "baseline" else 0,
    )
    routing_layers = int(rng.integers(1, 3))
    aggregation = str(rng.choice(["none", "interfere"]))
    routing = dataclasses.replace(
        base.routing,
        encoding=encoding,
        layers=routing_layers,
        operators=str(rng.choice(OPERATOR_SETS)),
        aggregation=aggregation,
        reupload="trainable" if kind == "qmoe" and trainable else False,
        features=int(rng.integers(0, features + 1)) if trainable else 0,
        couplings=int(rng.integers(0, routing_layers + 1)) if rng.random() < 0.4 else 0,
        qubits=route + 1 if wider else 0,
    )
    encoder = dataclasses.replace(base.encoder, features=features)
    data = dataclasses.replace(base.data, classes=(0, 1))
    return dataclasses.replace(
        base,
        name=f"random-{seed}",
        kind=kind,
        classes=2,
        encoder=encoder,
        routing=routing,
        experts=experts,
        data=data,
    )


def statevector_outputs(model, x, w) -> np.ndarray:
    rows = []
    for xi in np.atleast_2d(x):
        state = Statevector(model.bind(xi, w))
        rows.append([state.expectation_value(op).real for op in model.observables])
    return np.array(rows)


def engine_jacobians(net, x: np.ndarray):
    """Outputs, d out / d weights ``(B, C, W)`` and d out / d inputs ``(B, C, F)``."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = net(xt)
    grads_w, grads_x = [], []
    for b in range(out.shape[0]):
        for c in range(out.shape[1]):
            gw, gx = torch.autograd.grad(out[b, c], (net.weight, xt), retain_graph=True)
            grads_w.append(gw.numpy())
            grads_x.append(gx[b].numpy())
    shape = out.shape
    return (
        out.detach().numpy(),
        np.array(grads_w).reshape(*shape, -1),
        np.array(grads_x).reshape(*shape, -1),
    )


SEEDS = list(range(12))


@pytest.mark.parametrize("seed", SEEDS)
def test_outputs_match_statevector(seed):
    model = compile_model(random_spec(seed))
    rng = np.random.default_rng(100 + seed)
    w = model.initial_weights(seed)
    x = rng.uniform(0, np.pi, (3, model.num_inputs))
    net = TorchStatevectorNetwork(model, w)
    out = net(torch.tensor(x)).detach().numpy()
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, statevector_outputs(model, x, w), atol=TOL, rtol=0)


def test_random_specs_cover_the_space():
    specs = [random_spec(s) for s in SEEDS]
    assert {s.routing.encoding for s in specs if s.kind == "qmoe"} == {"binary", "onehot"}
    assert {s.routing.aggregation for s in specs if s.kind == "qmoe"} == {"none", "interfere"}
    assert {s.kind for s in specs} == {"qmoe", "baseline"}
    assert {s.experts.operators for s in specs} == set(OPERATOR_SETS)
    counts = {s.experts.count for s in specs if s.kind == "qmoe"}
    assert min(counts) == 2 and max(counts) >= 5
    qmoes = [s for s in specs if s.kind == "qmoe"]
    assert any(s.routing.reupload_mode == "trainable" for s in qmoes)
    assert any(s.routing.couplings for s in qmoes)
    assert any(s.num_route_qubits > s.num_select_qubits for s in qmoes)


@pytest.mark.parametrize("block_qubits", [2, 3, 4, 5, 6])
def test_every_block_width_matches_statevector(block_qubits):
    model = compile_model("qmoe-digits4")
    rng = np.random.default_rng(7)
    w = model.initial_weights(7)
    x = rng.uniform(0, np.pi, (2, model.num_inputs))
    net = TorchStatevectorNetwork(model, w, block_qubits=block_qubits)
    out = net(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(out, statevector_outputs(model, x, w), atol=TOL, rtol=0)


@pytest.mark.parametrize("seed", [0, 3, 5])
def test_gradients_match_finite_differences(seed):
    model = compile_model(random_spec(seed, max_qubits=5))
    rng = np.random.default_rng(seed)
    w = model.initial_weights(seed)
    x = rng.uniform(0, np.pi, (2, model.num_inputs))
    net = TorchStatevectorNetwork(model, w)
    _, grad_w, grad_x = engine_jacobians(net, x)
    h = 1e-5

    def f(xx, ww):
        with torch.no_grad():
            net.weight.copy_(torch.as_tensor(ww))
            return net(torch.tensor(xx)).numpy()

    for i in rng.choice(model.num_weights, size=min(6, model.num_weights), replace=False):
        e = np.zeros_like(w)
        e[i] = h
        fd = (f(x, w + e) - f(x, w - e)) / (2 * h)
        np.testing.assert_allclose(grad_w[..., i], fd, atol=1e-7, rtol=0)
    for i in rng.choice(model.num_inputs, size=4, replace=False):
        e = np.zeros_like(x)
        e[:, i] = h
        fd = (f(x + e, w) - f(x - e, w)) / (2 * h)
        np.testing.assert_allclose(grad_x[..., i], fd, atol=1e-7, rtol=0)


def _aer_check(seed: int, max_qubits: int) -> None:
    from qmoe_qiskit.engines.aer import build_qnn, build_torch_network

    model = compile_model(random_spec(seed, max_qubits=max_qubits))
    rng = np.random.default_rng(200 + seed)
    w = model.initial_weights(seed)
    x = rng.uniform(0, np.pi, (2, model.num_inputs))
    qnn = build_qnn(model, device="cpu", input_gradients=True)
    ref_out = qnn.forward(x, w)
    ref_dx, ref_dw = qnn.backward(x, w)
    net = TorchStatevectorNetwork(model, w)
    out, dw, dx = engine_jacobians(net, x)
    np.testing.assert_allclose(out, ref_out, atol=TOL, rtol=0)
    np.testing.assert_allclose(dw, ref_dw, atol=TOL, rtol=0)
    np.testing.assert_allclose(dx, ref_dx, atol=TOL, rtol=0)
    # Same weights in the Aer TorchConnector give the same outputs: checkpoints are shared.
    connector = build_torch_network(model, net.weight.detach().numpy(), device="cpu")
    np.testing.assert_allclose(connector(torch.tensor(x)).detach().numpy(), out, atol=TOL, rtol=0)


@pytest.mark.parametrize("seed", [1, 4])
def test_outputs_and_gradients_match_aer(seed):
    _aer_check(seed, max_qubits=5)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_outputs_and_gradients_match_aer_all_seeds(seed):
    _aer_check(seed, max_qubits=8)


def test_complex64_close_to_complex128():
    model = compile_model("qmoe-digits4")
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.uniform(0, np.pi, (4, model.num_inputs)))
    w = model.initial_weights(3)
    out64 = TorchStatevectorNetwork(model, w, dtype=torch.complex64)(x)
    out128 = TorchStatevectorNetwork(model, w)(x)
    assert out64.dtype == torch.float32 and out128.dtype == torch.float64
    np.testing.assert_allclose(out64.detach().numpy(), out128.detach().numpy(), atol=1e-4)


def test_general_pauli_observables_match_statevector():
    model = compile_model("qmoe-digits4")
    rng = np.random.default_rng(11)
    labels = ["".join(rng.choice(list("IXYZ"), model.num_qubits)) for _ in range(6)]
    observables = tuple(
        SparsePauliOp.from_list([(labels[2 * i], 0.7), (labels[2 * i + 1], -0.4)]) for i in range(3)
    )
    model = dataclasses.replace(model, observables=observables)
    w = model.initial_weights(1)
    x = rng.uniform(0, np.pi, (2, model.num_inputs))
    out = TorchStatevectorNetwork(model, w)(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(out, statevector_outputs(model, x, w), atol=TOL, rtol=0)


def test_single_input_and_weight_shape():
    model = compile_model("qmoe-digits4")
    net = TorchStatevectorNetwork(model)
    assert net.weight.dtype == torch.float64
    assert net.weight.shape == (model.num_weights,)
    np.testing.assert_allclose(net.weight.detach().numpy(), model.initial_weights(0))
    assert net(torch.zeros(model.num_inputs)).shape == (model.spec.classes,)
    with pytest.raises(ValueError, match="weights"):
        TorchStatevectorNetwork(model, np.zeros(3))


def test_lowering_rejects_non_affine_angles_and_unknown_gates():
    a, b = Parameter("a"), Parameter("b")
    for angle in (a * a, b * b, a * b * b):  # only input x weight products are allowed
        circuit = QuantumCircuit(1)
        circuit.rx(angle, 0)
        with pytest.raises(EngineError, match="not affine"):
            lower_circuit(circuit, [a], [b])
    circuit = QuantumCircuit(1)
    circuit.rx(a * b, 0)
    with pytest.raises(EngineError, match="not affine"):
        lower_circuit(circuit, [a, b], [])  # both inputs
    circuit = QuantumCircuit(1)
    circuit.rx(a.sin(), 0)
    with pytest.raises(EngineError, match="not affine"):
        lower_circuit(circuit, [a], [])
    circuit = QuantumCircuit(2)
    circuit.swap(0, 1)
    with pytest.raises(EngineError, match="not supported"):
        lower_circuit(circuit, [], [])


def test_lowering_reads_affine_coefficients():
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(1)
    circuit.ry((a - 3 * b) / 4 + 0.5, 0)
    program = lower_circuit(circuit, [a], [b])
    np.testing.assert_allclose(program.input_map, [[0.25]])
    np.testing.assert_allclose(program.weight_map, [[-0.75]])
    np.testing.assert_allclose(program.offset, [0.5])


def test_lowering_reads_input_times_weight_products():
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    circuit = QuantumCircuit(1)
    circuit.ry(2 * a * b + a - c + 0.5, 0)
    circuit.rz(c, 0)
    program = lower_circuit(circuit, [a], [b, c])
    np.testing.assert_allclose(program.input_map, [[1.0], [0.0]])
    np.testing.assert_allclose(program.weight_map, [[0.0, -1.0], [0.0, 1.0]])
    np.testing.assert_allclose(program.offset, [0.5, 0.0])
    np.testing.assert_array_equal(program.products, [[0, 0, 0]])
    np.testing.assert_allclose(program.product_coeffs, [2.0])
    np.testing.assert_array_equal(program.input_dependent(), [True, False])
    x, w = np.array([[0.3], [-1.2]]), np.array([0.7, 0.2])
    expected = [[2 * xa * 0.7 + xa - 0.2 + 0.5, 0.2] for xa in (0.3, -1.2)]
    np.testing.assert_allclose(program.angles(x, w), expected)


def test_device_resolution():
    assert resolve_torch_device("cpu") == torch.device("cpu")
    assert resolve_torch_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert "cpu" in torch_devices()
    with pytest.raises(DeviceError):
        resolve_torch_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA"):
            resolve_torch_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    model = compile_model("qmoe-digits4")
    x = torch.rand(4, model.num_inputs, dtype=torch.float64)
    cpu = TorchStatevectorNetwork(model)(x)
    gpu = TorchStatevectorNetwork(model, device="cuda")(x.cuda())
    np.testing.assert_allclose(gpu.detach().cpu().numpy(), cpu.detach().numpy(), atol=TOL)
