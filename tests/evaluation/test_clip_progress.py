"""The frames of the clip in progress kept in ``partial.jsonl``: an evaluation interrupted in the middle
of a clip resumes after its kept frames (not scored again), with the report, rows and images of an
uninterrupted run, pair metrics and ``--batch`` included; the stop says what is kept; the kept frames
are recorded as the clip runs; kept frames that are not the clip's first scored frames are refused."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from lgfn.data.eval_datasets import FramesDataset
from lgfn.errors import ConfigError
from lgfn.evaluation import clip_progress
from lgfn.evaluation.evaluator import evaluate
from lgfn.evaluation.resume import PARTIAL_FILE, ResumeLog
from lgfn.inference import BicubicUpscaler, VideoSuperResolver
from lgfn.models import LGFN
from tests.helpers import TINY_MODEL


class Counted:
    """An upscaler that notes the indices of every ``upscale_clip`` call and can stop, like Ctrl-C, as it
    is about to yield a given frame of a clip."""

    def __init__(self, upscaler, stop_at: tuple[str, int] | None = None) -> None:
        self.upscaler, self.stop_at, self.calls = upscaler, stop_at, []
        self.scale, self.num_frames, self.device = upscaler.scale, upscaler.num_frames, upscaler.device
        self.batch, self.name = getattr(upscaler, "batch", 1), "counted"
        self.key = None

    def upscale_clip(self, frames, indices=None):
        self.calls.append((self.key, list(indices)))
        for index, sr in self.upscaler.upscale_clip(frames, indices):
            if self.stop_at == (self.key, index):
                raise KeyboardInterrupt
            yield index, sr


def _run(dataset, upscaler: Counted, out: Path, **options) -> dict:
    # The evaluation reads a clip, then upscales it: the clip being read is the one upscale_clip gets.
    real = dataset.load

    def load(clip):
        upscaler.key = clip.key
        return real(clip)

    dataset.load = load
    return evaluate(dataset, upscaler, out_dir=out, progress=False, **options)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def clips(random_frames) -> dict:
    return {"a": random_frames(5, 32, 32, 1), "b": random_frames(8, 32, 32, 2)}


@pytest.mark.parametrize("metrics", [("psnr", "ssim"), ("psnr", "ssim", "tof")])
def test_a_clip_interrupted_part_way_resumes_after_its_kept_frames(
    tmp_path: Path, clips: dict, metrics, caplog: pytest.LogCaptureFixture
) -> None:
    options = {"metrics": metrics, "save_images": True}
    whole = _run(FramesDataset(clips), Counted(BicubicUpscaler(4)), tmp_path / "whole", **options)
    out = tmp_path / "out"
    stopped = Counted(BicubicUpscaler(4), stop_at=("b", 4))  # b scores 1..6: 1, 2, 3 are finished
    with caplog.at_level(logging.WARNING), pytest.raises(KeyboardInterrupt):
        _run(FramesDataset(clips), stopped, out, **options)
    lines = _lines(out / PARTIAL_FILE)
    assert [line.get("clip") for line in lines[1:2]] == ["a"]
    assert lines[2]["frames"] == "b" and [row["frame"] for row in lines[2]["rows"]] == [1, 2, 3]
    assert lines[-1] == {"stopped": "interrupted"}
    rerun = " and runs 1 kept frame(s) again, unscored (for the tof of frame 4)" if "tof" in metrics else ""
    assert f"clip b: 3 of its 6 scored frames are kept; --resume scores the other 3{rerun}" in caplog.text
    images = out / "images" / "b"
    times = {path.name: path.stat().st_mtime_ns for path in images.glob("*.png")}
    assert sorted(times) == ["00000001.png", "00000002.png", "00000003.png"]

    with pytest.raises(
        ConfigError, match=r"holds the scores of 1 clip\(s\) and 3 frame\(s\) of clip b of an"
    ):
        _run(FramesDataset(clips), Counted(BicubicUpscaler(4)), out, **options)
    resumed_upscaler = Counted(BicubicUpscaler(4))
    resumed = _run(FramesDataset(clips), resumed_upscaler, out, resume=True, **options)
    # Frames 1-3 are not scored again; with tOF frame 3 is run once more for the pair (3, 4).
    assert resumed_upscaler.calls == [("b", [3, 4, 5, 6] if "tof" in metrics else [4, 5, 6])]
    assert resumed == whole
    for name in ("per_frame.csv", "metrics.json", "settings.json"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert {path.name: path.stat().st_mtime_ns for path in images.glob("*.png")} | times == {
        path.name: path.stat().st_mtime_ns for path in images.glob("*.png")
    }  # the kept frames' images were not written again
    for path in (tmp_path / "whole" / "images" / "b").glob("*.png"):
        assert (images / path.name).read_bytes() == path.read_bytes()
    assert not (out / PARTIAL_FILE).exists()


def test_a_resumed_clip_keeps_the_batches_of_an_uninterrupted_run(tmp_path: Path, clips: dict) -> None:
    torch.manual_seed(0)
    network = LGFN(scale=4, num_frames=3, **TINY_MODEL)

    def resolver(stop_at=None) -> Counted:
        return Counted(VideoSuperResolver(network, device="cpu", batch=2), stop_at)

    options = {"metrics": ("psnr", "ssim", "tof")}
    whole = _run(FramesDataset(clips), resolver(), tmp_path / "whole", **options)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _run(FramesDataset(clips), resolver(stop_at=("b", 6)), out, **options)  # 1 to 5 finished
    assert [row["frame"] for row in _lines(out / PARTIAL_FILE)[2]["rows"]] == [1, 2, 3, 4, 5]
    again = resolver()
    assert _run(FramesDataset(clips), again, out, resume=True, **options) == whole
    # 4 frames kept (two whole batches); the batch (3, 4) is run again for the tOF of frame 5.
    assert again.calls == [("b", [3, 4, 5, 6])]
    assert (out / "per_frame.csv").read_text() == (tmp_path / "whole" / "per_frame.csv").read_text()


def test_the_kept_frames_are_recorded_as_the_clip_runs(
    tmp_path: Path, clips: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash that kills the process (no handler runs) keeps what the log held: frames as they end."""
    monkeypatch.setattr(clip_progress, "FRAME_RECORD_SECONDS", 0.0)
    seen = []

    def look(key: str, index: int, *_) -> None:
        lines = _lines(tmp_path / PARTIAL_FILE)
        seen.append(
            (key, index, [row["frame"] for line in lines if "frames" in line for row in line["rows"]])
        )

    evaluate(FramesDataset(clips), BicubicUpscaler(4), out_dir=tmp_path, progress=False, frame_callback=look)
    assert seen[:3] == [("a", 1, []), ("a", 2, [1]), ("a", 3, [1, 2])]
    assert seen[3:5] == [("b", 1, [1, 2, 3]), ("b", 2, [1, 2, 3, 1])]  # a's frames lines stay before a's line


def test_kept_frames_that_are_not_the_clips_first_are_refused(tmp_path: Path, clips: dict) -> None:
    with pytest.raises(KeyboardInterrupt):
        _run(FramesDataset(clips), Counted(BicubicUpscaler(4), stop_at=("b", 3)), tmp_path)
    path = tmp_path / PARTIAL_FILE
    lines = _lines(path)
    for row in lines[2]["rows"]:
        row["frame"] += 1  # a forged line: frames 2 and 3, as if 1 was scored
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = path.read_text()
    with pytest.raises(
        ConfigError, match=r"the frames \[2, 3\] kept of clip b are not its first scored frames"
    ):
        _run(FramesDataset(clips), Counted(BicubicUpscaler(4)), tmp_path, resume=True)
    assert path.read_text() == before and not (tmp_path / "metrics.json").exists()


def test_a_clip_whose_frames_are_all_kept_is_not_run_again(
    tmp_path: Path, clips: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after b's last frame was kept but before b's own line was written."""
    options = {"metrics": ("psnr", "ssim", "tof")}
    whole = _run(FramesDataset(clips), Counted(BicubicUpscaler(4)), tmp_path / "whole", **options)
    monkeypatch.setattr(clip_progress, "FRAME_RECORD_SECONDS", 0.0)
    real = ResumeLog.record

    def stop_before_b(self, key, *args) -> None:
        if key == "b":
            raise KeyboardInterrupt
        real(self, key, *args)

    monkeypatch.setattr(ResumeLog, "record", stop_before_b)
    with pytest.raises(KeyboardInterrupt):
        _run(FramesDataset(clips), Counted(BicubicUpscaler(4)), tmp_path / "out", **options)
    monkeypatch.undo()
    again = Counted(BicubicUpscaler(4))
    assert _run(FramesDataset(clips), again, tmp_path / "out", resume=True, **options) == whole
    assert again.calls == [("b", [])]  # b's six frames were kept: nothing to run
