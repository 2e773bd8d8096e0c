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


def cpu_has_fast_bf16(flags: frozenset[str] | None = None, onednn_bf16: bool | None = None) -> bool:
    """Native bf16 dot products: the CPU has them (AVX512-BF16 or AMX) *and* this PyTorch build's
    oneDNN uses them. Elsewhere bf16 is emulated and slower than fp32: a build whose oneDNN reports
    no bf16 (torch 2.14.1+cu130 on an AVX512-BF16 EPYC) ran a ViT-B-32 text tower ~6x slower in bf16."""
    flags = cpu_flags() if flags is None else flags
    if flags and not any(f in flags for f in _BF16_FLAGS):
        return False
    return _onednn_has_bf16() if onednn_bf16 is None else onednn_bf16


def _onednn_has_bf16() -> bool:
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
