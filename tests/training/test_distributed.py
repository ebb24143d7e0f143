"""Multi-process training: batch sharding, and two Gloo processes under torchrun matching one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from lgfn.checkpoint import load_checkpoint
from lgfn.config import ExperimentConfig
from lgfn.distributed import DistributedContext, any_process, barrier
from lgfn.locks import release_lock, take_lock
from lgfn.models import LGFN
from lgfn.training.distributed import ShardedEpochSampler
from lgfn.training.trainer import Trainer
from tests.helpers import REPO, tiny_config, torchrun, write_clips


def local_batches(sampler: ShardedEpochSampler) -> list[list[tuple[int, int]]]:
    items = list(sampler)
    assert len(items) == len(sampler)
    return [items[i : i + sampler.local_batch] for i in range(0, len(items), sampler.local_batch)]


def test_shards_of_each_global_batch_are_the_single_process_batch() -> None:
    single = ShardedEpochSampler(23, 6, rank=0, world_size=1, seed=5)
    shards = [ShardedEpochSampler(23, 6, rank=r, world_size=3, seed=5) for r in range(3)]
    for epoch in range(3):
        for sampler in (single, *shards):
            sampler.set_epoch(epoch)
        expected = local_batches(single)
        per_rank = [local_batches(s) for s in shards]
        assert len(expected) == 3  # 23 // 6; the 5 left over are dropped
        for k, batch in enumerate(expected):
            assert sum((per_rank[r][k] for r in range(3)), []) == batch
        indices = [i for batch in expected for i, _ in batch]
        assert len(set(indices)) == 18  # no sample twice in an epoch
        assert all(e == epoch for batch in expected for _, e in batch)


def test_each_epoch_has_its_own_order_fixed_by_the_seed() -> None:
    sampler = ShardedEpochSampler(50, 5, 0, 1, seed=1)
    orders = [sampler.epoch_order(e).tolist() for e in range(3)]
    assert orders[0] != orders[1] != orders[2]
    assert sorted(orders[0]) == list(range(50))
    assert ShardedEpochSampler(50, 5, 0, 1, seed=1).epoch_order(2).tolist() == orders[2]
    assert ShardedEpochSampler(50, 5, 0, 1, seed=2).epoch_order(2).tolist() != orders[2]


def test_starting_part_way_through_an_epoch_continues_the_same_order() -> None:
    sampler = ShardedEpochSampler(20, 4, rank=1, world_size=2, seed=0)
    sampler.set_epoch(3)
    whole = local_batches(sampler)
    sampler.set_epoch(3, start_batch=2)
    assert local_batches(sampler) == whole[2:]
    with pytest.raises(ValueError, match="start batch"):
        sampler.set_epoch(3, start_batch=5)


def test_sampler_errors() -> None:
    with pytest.raises(ValueError, match="does not split evenly"):
        ShardedEpochSampler(20, 5, 0, 2, seed=0)
    with pytest.raises(ValueError, match="fewer than one batch"):
        ShardedEpochSampler(3, 4, 0, 1, seed=0)


def test_single_process_collectives_are_local() -> None:
    context = DistributedContext()
    assert context.is_main and not context.enabled
    barrier(context)
    assert any_process(True, context, torch.device("cpu"))
    assert not any_process(False, context, torch.device("cpu"))


def two_process_training(config_file: Path, out: Path) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run train.py on two gloo processes of this machine."""
    launcher, env = torchrun(2)
    command = [*launcher, str(REPO / "train.py"), "-c", str(config_file), "--out", str(out)]
    return command, env


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_on_the_same_global_batch(tmp_path: Path) -> None:
    clips = write_clips(tmp_path / "clips")
    config = tiny_config(clips, train={"epochs": 2, "lr": 1e-4, "save_every": 0})  # 4 steps of batch 4
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))

    threads = torch.get_num_threads()
    try:
        Trainer.build(config, tmp_path / "one").fit()
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)

    command, env = two_process_training(config_file, tmp_path / "two")
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    one = load_checkpoint(tmp_path / "one" / "final.pth")
    two = load_checkpoint(tmp_path / "two" / "final.pth")
    assert two["iteration"] == one["iteration"] == 4
    assert load_checkpoint(tmp_path / "two" / "latest.pth")["world_size"] == 2
    initial = initial_weights(config)
    moved = 0.0
    for key, value in one["state_dict"].items():
        difference = (two["state_dict"][key] - value).abs().max().item()
        assert difference <= 1e-6, (key, difference)
        moved = max(moved, (value - initial[key]).abs().max().item())
    assert moved > 1e-5  # the runs trained: weights moved far more than the tolerance
    # Rank 0 alone wrote the run folder: one log, one metrics line per iteration.
    records = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(records) == 4
    assert not (tmp_path / "two" / "lock").exists()  # rank 0's lock, given back at the end


@pytest.mark.slow
def test_torchrun_on_a_run_folder_in_use_stops_with_rank_0s_one_line(tmp_path: Path) -> None:
    """Rank 0 owns the run folder: it is refused, says so in one line, and the other rank goes too."""
    clips = write_clips(tmp_path / "clips")
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(tiny_config(clips, train={"epochs": 2}).to_dict()))
    run = tmp_path / "two"
    run.mkdir()
    assert take_lock(run / "lock") is None  # this process trains there (as far as the lock says)
    try:
        command, env = two_process_training(config_file, run)
        result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    finally:
        release_lock(run / "lock")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: the run folder {run} is in use by another training run (process {os.getpid()}); wait "
        "for it or stop it first, or pass --out to train into another folder"
    ]
    assert sorted(p.name for p in run.iterdir()) == []  # nothing written, the lock given back


def initial_weights(config: ExperimentConfig) -> dict[str, torch.Tensor]:
    """The weights every run of ``config`` starts from (seeded initialisation)."""
    torch.manual_seed(config.train.seed)
    return LGFN.from_config(config.model).state_dict()


@pytest.mark.slow
def test_a_signal_to_one_process_stops_every_process_at_the_same_iteration(tmp_path: Path) -> None:
    clips = write_clips(tmp_path / "clips")
    config = tiny_config(clips, train={"epochs": 200, "save_every": 0})  # 400 steps: longer than the test
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    command, env = two_process_training(config_file, tmp_path / "two")
    agent = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "two" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = Path(f"/proc/{agent.pid}/task/{agent.pid}/children").read_text().split()
    assert len(workers) == 2
    os.kill(int(workers[-1]), signal.SIGTERM)  # one process only, as a scheduler might
    _, stderr = agent.communicate(timeout=120)
    assert agent.returncode != 0  # the processes left as after Ctrl-C
    stopped = load_checkpoint(tmp_path / "two" / "latest.pth")["iteration"]
    assert 3 <= stopped < 400
    assert f"stopped at iteration {stopped} of 400" in (tmp_path / "two" / "train.log").read_text()
    # Both processes stopped together: rank 0 logged every iteration up to the stop and none after.
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["iteration"] for r in records] == list(range(1, stopped + 1))
