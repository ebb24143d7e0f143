"""Where and in what precision the network runs: device names, precisions, autocast, peak memory.

Every command and the trainer take their device and precision choices from here, so the names a user
can type, the errors for a wrong one and the memory report are the same everywhere.
"""

from __future__ import annotations

import resource
import sys
from contextlib import AbstractContextManager, nullcontext

import torch

from lgfn.errors import LGFNError

#: Precision name -> the dtype the network's arithmetic runs in (fp32 needs no autocast).
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: The device names a user can give; ``auto`` is CUDA when a GPU is visible, else the CPU.
DEVICES = ("auto", "cpu", "cuda")
#: The precision name that stands for :func:`auto_precision`'s choice (``lgfn upscale``'s default).
AUTO = "auto"


def resolve_device(
    name: str | torch.device, index: int | None = None, option: str = "--device"
) -> torch.device:
    """The device a user named.

    Args:
        name: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or a :class:`torch.device`.
        index: the GPU for a bare ``"cuda"`` (a distributed process's local rank).
        option: how the user set it, for the error message (``--device``, ``train.device``).

    Raises:
        LGFNError: the name is no device, or CUDA was asked for and there is no GPU.
    """
    if str(name) == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise LGFNError(
            f"{option} {name!r}: expected {', '.join(DEVICES[:-1])}, {DEVICES[-1]} or cuda:N"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            use = f"{option}=cpu" if "." in option else f"{option} cpu"  # a config key or an option
            raise LGFNError(f"{option} asks for {str(name)!r} but no CUDA GPU is available; use {use}")
        if device.index is None and index is not None:
            device = torch.device("cuda", index)
        _check_gpu_index(device, index, option)
    return device


def _check_gpu_index(device: torch.device, local_rank: int | None, option: str) -> None:
    """Refuse a GPU this machine does not have: ``cuda:3`` on two GPUs, or a torchrun process whose
    local rank has no GPU of its own (more processes on a machine than GPUs)."""
    count = torch.cuda.device_count()
    if device.index is None or device.index < count:
        return
    if local_rank is not None and device.index == local_rank:
        raise LGFNError(
            f"this process (LOCAL_RANK {local_rank}) would run on cuda:{local_rank}, but this machine has "
            f"{count} CUDA GPU(s): start at most {count} process(es) per machine (torchrun --nproc_per_node)"
        )
    raise LGFNError(
        f"{option} {str(device)!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}"
    )


def check_precision(precision: str, option: str = "--precision") -> None:
    """Raise :class:`LGFNError` unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise LGFNError(f"{option} must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def check_precision_on(device: torch.device, precision: str, option: str = "precision") -> None:
    """Raise :class:`LGFNError` unless the network can run in ``precision`` on ``device``.

    Args:
        device: where the network runs.
        precision: a name of :data:`PRECISIONS`; fp16 needs CUDA.
        option: how the user set it, for the message (``--precision``, ``train.precision``).
    """
    check_precision(precision, option=option)
    if precision == "fp16" and device.type != "cuda":
        raise LGFNError(f"{option} fp16 needs a CUDA device; on CPU use bf16 or fp32")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware: a CUDA GPU from Ampere on, or an x86 CPU with
    AVX512-BF16 or AMX (elsewhere bf16 is emulated and gains little or nothing over fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        # torch.cpu has no public query; these two read the CPU's feature flags (x86 only).
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def auto_precision(device: torch.device) -> str:
    """The precision ``--precision auto`` runs in on ``device``: bf16 where the hardware computes it
    natively, otherwise fp32. Measured on the 2-core CPU of docs/speed.md with both shipped weights: bf16
    runs 1.9-2.4x faster and moves the Vid4 average by at most 0.0005 dB (per clip 0.0011 dB)."""
    return "bf16" if native_bf16(device) else "fp32"


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """Mixed precision for ``precision`` on ``device`` (a no-op context for fp32)."""
    check_precision(precision)
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=PRECISIONS[precision])


def peak_memory_mib(device: torch.device | str) -> dict[str, float]:
    """This process's peak resident memory and, on CUDA, the allocator's peak, in MiB."""
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    peaks = {"rss": rss}
    if torch.device(device).type == "cuda":
        peaks["cuda"] = torch.cuda.max_memory_allocated(device) / 2**20
    return peaks


def device_peak_mib(device: torch.device | str) -> float:
    """The peak memory of ``device`` in MiB: the CUDA allocator's on a GPU, the process's resident set on
    the CPU (what the benchmarks report)."""
    peaks = peak_memory_mib(device)
    return peaks.get("cuda", peaks["rss"])


def peak_memory_text(device: torch.device | str) -> str:
    """:func:`peak_memory_mib` as a report line: ``"peak RSS 1.23 GiB, peak CUDA allocated 4.56 GiB"``."""
    peaks = peak_memory_mib(device)
    text = f"peak RSS {peaks['rss'] / 2**10:.2f} GiB"
    if "cuda" in peaks:
        text += f", peak CUDA allocated {peaks['cuda'] / 2**10:.2f} GiB"
    return text
