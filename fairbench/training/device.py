"""The device a run trains on: ``cpu``, ``cuda`` (``cuda:N``) or ``auto`` (CUDA when present).

On CUDA, :func:`configure` asks for deterministic kernels: ``torch.use_deterministic_algorithms(True,
warn_only=True)`` (a kernel without a deterministic version warns instead of failing),
``cudnn.benchmark = False``, full float32 precision for matrix products and convolutions (torch
otherwise lets cuDNN use TF32, 10-bit mantissas), and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS needs it for
reproducible matrix products; it must be set before the first cuBLAS call, so set it in the
environment when in doubt). Repeated CUDA runs on one GPU then give the same numbers; CPU and CUDA
runs agree to float rounding only where they draw the same random numbers (README, "Run on a GPU").
"""

from __future__ import annotations

import os

import torch

DEVICE_CHOICES: tuple[str, ...] = ("cpu", "cuda", "auto")
CUBLAS_WORKSPACE = ":4096:8"


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` as a ``torch.device``; a one-line error when CUDA is asked
    for and absent (raised before any data is loaded)."""
    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but no CUDA GPU is available (torch "
                             f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
                             "use --device cpu or --device auto")
        index = int(text[5:]) if ":" in text else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present; "
                             f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
        return torch.device("cuda", index)
    raise ValueError(f"unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")


def configure(device: torch.device) -> None:
    """Deterministic settings for ``device`` (module docstring); nothing to do on the CPU."""
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    _full_fp32()


def _full_fp32() -> None:
    """Full float32 matrix products and convolutions (no TF32), as on the CPU."""
    try:
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        torch.backends.cudnn.conv.fp32_precision = "ieee"  # type: ignore[attr-defined]
    except AttributeError:  # torch before 2.9 names the same switches allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def describe(device: torch.device) -> dict[str, str]:
    """What run.json records about the device: its name and, on CUDA, the GPU model."""
    out = {"used": str(device)}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
        out["cuda"] = str(torch.version.cuda)
    return out
