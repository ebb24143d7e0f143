"""Device names as users type them (``lgfn.devices.resolve_device``): each wrong one is one clear error,
the GPUs a machine does not have included (checked with the GPU count stood in for, on any machine)."""

from __future__ import annotations

import pytest
import torch

from lgfn.devices import resolve_device
from lgfn.errors import LGFNError


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with two CUDA GPUs, as far as the checks can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_the_cpu_and_named_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(LGFNError, match=r"--device 'gpu': expected auto, cpu, cuda or cuda:N"):
        resolve_device("gpu")


def test_a_gpu_of_the_machine_and_one_it_does_not_have(two_gpus) -> None:
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("auto", index=1) == torch.device("cuda", 1)  # a torchrun process's own GPU
    with pytest.raises(
        LGFNError, match=r"--device 'cuda:2': this machine has 2 CUDA GPU\(s\), cuda:0 to cuda:1"
    ):
        resolve_device("cuda:2")


def test_more_torchrun_processes_than_gpus_is_one_error(two_gpus) -> None:
    with pytest.raises(
        LGFNError, match=r"LOCAL_RANK 3\) would run on cuda:3, but this machine has 2 CUDA GPU"
    ):
        resolve_device("cuda", index=3)
    with pytest.raises(LGFNError, match=r"start at most 2 process\(es\) per machine"):
        resolve_device("auto", index=2)


def test_no_gpu_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(LGFNError, match=r"asks for 'cuda' but no CUDA GPU is available; use --device cpu"):
        resolve_device("cuda")
    with pytest.raises(LGFNError, match=r"use train.device=cpu"):
        resolve_device("cuda", option="train.device")
    assert resolve_device("auto") == torch.device("cpu")
