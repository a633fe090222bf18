"""Torch device resolution for the statevector engine."""

from __future__ import annotations

import torch

__all__ = ["TorchDeviceError", "resolve_torch_device", "torch_devices"]


class TorchDeviceError(RuntimeError):
    """The requested torch device is not available."""


def torch_devices() -> tuple[str, ...]:
    """Devices torch can run the engine on here: ``("cpu",)`` or ``("cpu", "cuda")``."""
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def resolve_torch_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N" | "gpu"`` into a torch device, checking it.

    Args:
        device: ``"auto"`` picks CUDA when torch sees a GPU, else the CPU; ``"gpu"`` means
            ``"cuda"``.

    Returns:
        The torch device.

    Raises:
        TorchDeviceError: If CUDA is requested but not available, or the name is unknown.
    """
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "gpu":
        name = "cuda"
    try:
        resolved = torch.device(name)
    except RuntimeError as exc:
        raise TorchDeviceError(f"unknown device {device!r}: use auto, cpu or cuda") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise TorchDeviceError(
                f"device {device!r} was requested but torch sees no CUDA GPU "
                f"(torch {torch.__version__}); use --device cpu or auto"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise TorchDeviceError(
                f"device {device!r} was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) exist"
            )
    elif resolved.type != "cpu":
        raise TorchDeviceError(f"unsupported device {device!r}: use auto, cpu or cuda")
    return resolved
