"""One device resolver for every engine: ``auto | cpu | gpu | cuda[:N]`` checked and resolved."""

from __future__ import annotations

import functools

import torch

from ..errors import DeviceError

__all__ = [
    "ENGINES",
    "NOISY_ENGINES",
    "aer_devices",
    "check_engine",
    "describe_device",
    "resolve_aer_device",
    "resolve_device",
    "resolve_torch_device",
    "torch_devices",
]

#: Execution engines: ``"aer"`` (EstimatorQNN on qiskit-aer inside TorchConnector, the
#: reference) and ``"torch"`` (our batched statevector simulation with autograd).
ENGINES = ("aer", "torch")

#: Engines that simulate a backend's noise model (Aer's density-matrix method).
NOISY_ENGINES = ("aer",)


def check_engine(engine: str) -> str:
    """Return ``engine`` if it is one of :data:`ENGINES`.

    Raises:
        DeviceError: Naming the engines that exist.
    """
    if engine not in ENGINES:
        raise DeviceError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    return engine


def torch_devices() -> tuple[str, ...]:
    """Devices torch can run the statevector engine on here: ``("cpu",)`` or with ``"cuda"``."""
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def resolve_torch_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N" | "gpu"`` into a torch device, checking it.

    Args:
        device: ``"auto"`` picks CUDA when torch sees a GPU, else the CPU; ``"gpu"`` means
            ``"cuda"``.

    Returns:
        The torch device.

    Raises:
        DeviceError: If CUDA is requested but not available, or the name is unknown.
    """
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "gpu":
        name = "cuda"
    try:
        resolved = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device {device!r}: use auto, cpu or cuda") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {device!r} was requested but torch sees no CUDA GPU "
                f"(torch {torch.__version__}); use --device cpu or auto"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {device!r} was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) exist"
            )
    elif resolved.type != "cpu":
        raise DeviceError(f"unsupported device {device!r}: use auto, cpu or cuda")
    return resolved


@functools.lru_cache(maxsize=1)
def aer_devices() -> tuple[str, ...]:
    """Devices qiskit-aer can simulate on here, e.g. ``("CPU",)`` or ``("CPU", "GPU")``."""
    from qiskit_aer import AerSimulator

    return tuple(AerSimulator().available_devices())


def resolve_aer_device(device: str = "auto") -> str:
    """Turn ``"auto" | "cpu" | "gpu"`` into the Aer device name, checking it exists.

    Args:
        device: ``"auto"`` picks the GPU when Aer lists one, else the CPU.

    Returns:
        ``"CPU"`` or ``"GPU"``.

    Raises:
        DeviceError: If a GPU is requested but Aer lists none, or the name is unknown.
    """
    name = device.upper()
    available = aer_devices()
    if name == "AUTO":
        return "GPU" if "GPU" in available else "CPU"
    if name not in ("CPU", "GPU"):
        raise DeviceError(f"unknown device {device!r}: use auto, cpu or gpu")
    if name not in available:
        raise DeviceError(
            f"device {device!r} was requested but qiskit-aer lists only {', '.join(available)}; "
            "install qiskit-aer-gpu on a machine with a CUDA GPU, or use --device cpu"
        )
    return name


def resolve_device(engine: str, device: str = "auto") -> str:
    """Resolve ``device`` for ``engine``: Aer's ``"CPU"``/``"GPU"``, or a torch device string.

    Args:
        engine: ``"aer"`` or ``"torch"``.
        device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"cuda"`` or ``"cuda:N"`` (torch only).

    Returns:
        The resolved device name.

    Raises:
        DeviceError: If the device is unknown or not available to that engine.
    """
    if check_engine(engine) == "aer":
        name = str(device).lower()
        if name.startswith("cuda"):
            if name not in ("cuda", "cuda:0"):
                raise DeviceError(f"device {device!r}: Aer selects GPUs itself; use gpu or cuda")
            name = "gpu"
        return resolve_aer_device(name)
    return str(resolve_torch_device(device))


def describe_device(engine: str, device: str) -> str:
    """A one-line, human-readable statement of where the engine will run (validates it).

    Raises:
        DeviceError: For an unknown engine or an unavailable device.
    """
    resolved = resolve_device(check_engine(engine), device)
    if engine == "aer":
        return f"engine aer on {resolved} (qiskit-aer devices: {', '.join(aer_devices())})"
    return f"engine torch on {resolved}"
