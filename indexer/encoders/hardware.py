"""What the machine offers for inference: CUDA, and bf16 arithmetic on the CPU."""

from __future__ import annotations

from pathlib import Path

_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_fast_bf16(flags: frozenset[str] | None = None) -> bool:
    """Native bf16 dot products (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower than fp32."""
    flags = cpu_flags() if flags is None else flags
    if any(f in flags for f in _BF16_FLAGS):
        return True
    if flags:
        return False
    # No /proc/cpuinfo (macOS, containers): ask oneDNN.
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
