"""Choosing where the torch kernels run."""
from __future__ import annotations

__all__ = ["resolve_device", "model_device", "DEVICES"]

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device) -> "torch.device":  # noqa: F821
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N" | torch.device`` to a ``torch.device``.

    ``"auto"`` takes the GPU when torch sees one, else the CPU. Asking for ``"cuda"`` on a
    machine without one is an error rather than a silent fallback.
    """
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if device != "cpu" and not device.startswith("cuda"):
            raise ValueError(f"device must be one of {DEVICES} (or 'cuda:N'), got {device!r}")
        dev = torch.device(device)
    else:
        raise TypeError(f"device must be a string or torch.device, got {type(device).__name__}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    return dev


def model_device(model) -> "torch.device":  # noqa: F821
    """The device of a torch model's first parameter (or buffer); the CPU for a stateless model."""
    import torch

    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")
