"""``python test.py``'s output folder: never on an input nor outside the folder named, one run at a time,
a finished evaluation of other settings kept unless --overwrite, a finished one complete on --resume,
a bad resume log or border crop refused in one line with the log kept, SIGTERM telling how to go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lgfn import save_checkpoint
from lgfn.cli import evaluate
from lgfn.cli.console import run_main
from lgfn.data.io import write_image
from lgfn.inference import VideoSuperResolver
from lgfn.models import LGFN
from tests.helpers import REPO, TINY_MODEL, stop_with_sigterm


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = run_main(evaluate.main, [*map(str, argv), "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _frames(folder: Path, count: int, seed: int, size: int = 32) -> None:
    rng = np.random.default_rng(seed)
    for i in range(count):
        write_image(folder / f"{i:08d}.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def vid4_tree(tmp_path: Path) -> Path:
    for seed, clip in enumerate(["alpha", "beta"]):
        _frames(tmp_path / "Vid4" / "GT" / clip, 4, seed)
    return tmp_path / "Vid4"


def _bicubic(root: Path, out: Path) -> list[str | Path]:
    return ["--dataset", "vid4", "--data-root", root, "--method", "bicubic", "--out", out]


@pytest.mark.parametrize("where", ["images under --out", "--out inside it", "--out is it"])
def test_saved_images_never_land_on_the_data(where: str, tmp_path: Path, capsys) -> None:
    """A data root named ``images`` under --out once had its ground truth overwritten by the SR frames
    (and the next run scored 39.72 dB against its own output)."""
    root = {"images under --out": tmp_path / "out" / "images", "--out inside it": tmp_path / "clips"}
    root = root.get(where, tmp_path / "out")
    for seed, clip in enumerate(["a", "b"]):
        _frames(root / clip, 3, seed)
    out = {"--out inside it": root / "results"}.get(where, tmp_path / "out")
    before = _snapshot(tmp_path)
    argv = ["--dataset", "folder", "--data-root", root, "--method", "bicubic", "--save-images", "--out", out]
    code, _, stderr = _run(argv, capsys)
    assert code == 2 and stderr.count("\n") == 1
    message = {
        "images under --out": f"error: --data-root {root} lies where the evaluation writes ({out}/images)",
        "--out inside it": f"error: --out {out}: the results would be written into --data-root {root}",
        "--out is it": f"error: --out {out}: the results would be written into --data-root {root}",
    }[where]
    assert stderr.startswith(message)
    assert _snapshot(tmp_path) == before  # nothing written, not even the lock


def test_without_saved_images_a_data_root_under_out_is_left_alone(tmp_path: Path, capsys) -> None:
    root = tmp_path / "out" / "images"
    _frames(root / "a", 3, 0)
    before = _snapshot(root)
    argv = ["--dataset", "folder", "--data-root", root, "--method", "bicubic", "--out", tmp_path / "out"]
    assert _run(argv, capsys)[0] == 0
    assert _snapshot(root) == before and (tmp_path / "out" / "metrics.json").is_file()


def _vimeo(root: Path, entries: list[str]) -> None:
    for seed, key in enumerate(["00001/0001", "00001/0002"]):
        rng = np.random.default_rng(seed)
        for i in range(1, 8):
            write_image(root / "sequences" / key / f"im{i}.png", rng.integers(0, 256, (32, 32, 3), np.uint8))
    (root / "sep_testlist.txt").write_text("\n".join(entries) + "\n")


@pytest.mark.parametrize(
    "entry", ["absolute", "00001/../../../elsewhere/0001", "../vimeo/sequences/00001/0002"]
)
def test_a_vimeo_list_entry_stays_inside_the_root(entry: str, tmp_path: Path, capsys) -> None:
    """An absolute entry once read that septuplet and wrote its SR im4.png over the input's."""
    elsewhere = tmp_path / "elsewhere" / "0001"
    _frames(elsewhere, 7, 5)
    entry = str(elsewhere) if entry == "absolute" else entry
    _vimeo(tmp_path / "vimeo", ["00001/0001", entry])
    argv = ["--dataset", "vimeo90k", "--data-root", tmp_path / "vimeo", "--method", "bicubic"]
    before = _snapshot(tmp_path)
    code, _, stderr = _run([*argv, "--save-images", "--out", tmp_path / "out"], capsys)
    assert code == 2
    assert stderr.strip() == (
        f"error: {tmp_path / 'vimeo' / 'sep_testlist.txt'}: entry 2 {entry!r} is not a septuplet inside "
        f"{tmp_path / 'vimeo' / 'sequences'}; expected a relative 'xxxxx/yyyy' without '..'"
    )
    assert _snapshot(tmp_path) == before


def test_one_run_at_a_time_on_one_out(vid4_tree: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "lock").write_text(str(os.getppid()))  # a live process holds the folder
    code, _, stderr = _run(_bicubic(vid4_tree, out), capsys)
    assert code == 2
    assert stderr.strip() == (
        f"error: another run (process {os.getppid()}) is writing {out}; wait for it or stop it first"
    )
    assert sorted(p.name for p in out.iterdir()) == ["lock"]  # the other run's files are left alone
    dead = subprocess.Popen(["true"])
    dead.wait()
    (out / "lock").write_text(str(dead.pid))  # left by a run that died: taken over
    assert _run(_bicubic(vid4_tree, out), capsys)[0] == 0
    assert not (out / "lock").exists() and (out / "metrics.json").is_file()


def test_a_finished_evaluation_of_other_settings_is_kept(vid4_tree: Path, tmp_path: Path, capsys) -> None:
    """The default --out is shared by a quick --max-frames look and the full run: the second once
    replaced the first silently."""
    out = tmp_path / "out"
    assert _run(_bicubic(vid4_tree, out), capsys)[0] == 0
    full = (out / "metrics.json").read_text()
    code, _, stderr = _run([*_bicubic(vid4_tree, out), "--max-frames", "3"], capsys)
    assert code == 2 and stderr.count("\n") == 1
    assert stderr.startswith(f"error: {out} holds a finished evaluation made with other settings (")
    assert "protocol.max_frames: None then, 3 now" in stderr
    assert stderr.strip().endswith("pass another --out, or --overwrite to replace it")
    assert (out / "metrics.json").read_text() == full

    code, _, stderr = _run([*_bicubic(vid4_tree, out), "--resume"], capsys)  # the same settings
    assert code == 0 and f"the evaluation in {out} is complete" in stderr
    assert (out / "metrics.json").read_text() == full
    assert _run(_bicubic(vid4_tree, out), capsys)[0] == 0  # the same settings again: replaced
    assert (out / "metrics.json").read_text() == full

    code, _, _ = _run([*_bicubic(vid4_tree, out), "--max-frames", "3", "--overwrite"], capsys)
    assert code == 0 and json.loads((out / "metrics.json").read_text())["protocol"]["max_frames"] == 3


@pytest.fixture
def two_checkpoints(tmp_path: Path) -> list[Path]:
    paths = []
    for seed, name in enumerate(["first", "second"]):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"{name}.pth")
        save_checkpoint(paths[-1], LGFN(scale=4, num_frames=3, **TINY_MODEL))
    return paths


def test_resume_of_several_checkpoints_keeps_the_finished_one(
    vid4_tree: Path, tmp_path: Path, capsys, two_checkpoints: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = VideoSuperResolver.upscale_clip, []

    def counted(self, frames, *args, **kwargs):
        calls.append(len(calls))
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return real(self, frames, *args, **kwargs)

    monkeypatch.setattr(VideoSuperResolver, "upscale_clip", counted)
    out, interrupt_at = tmp_path / "out", 3  # first: alpha, beta; second: alpha interrupted
    argv = ["--dataset", "vid4", "--data-root", vid4_tree, "--ckpt", *two_checkpoints, "--device", "cpu"]
    argv += ["--out", out]
    assert _run(argv, capsys)[0] == 130
    first = (out / "first" / "metrics.json").read_text()
    calls.clear()
    interrupt_at = None
    code, _, stderr = _run([*argv, "--resume"], capsys)
    assert code == 0, stderr
    assert len(calls) == 2  # the second checkpoint's two clips: the first one had finished
    assert f"the evaluation in {out / 'first'} is complete" in stderr
    # Its scores are kept; the figures drawn once both checkpoints are done are listed in it too.
    resumed = json.loads((out / "first" / "metrics.json").read_text())
    assert resumed.pop("figures") and resumed == json.loads(first)
    finished = {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}
    code, _, stderr = _run([*argv, "--resume"], capsys)  # all finished: nothing computed or written
    assert code == 0 and len(calls) == 2 and stderr.count("is complete") == 2
    assert {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()} == finished


def _stop_in_beta(argv: list, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run bicubic ``argv`` and stop it (Ctrl-C) when the second clip, beta, starts."""
    real = evaluate.BicubicUpscaler.upscale_clip
    seen: list[int] = []

    def stop_in_beta(self, frames, *args, **kwargs):
        if seen:
            raise KeyboardInterrupt
        seen.append(1)
        return real(self, frames, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(evaluate.BicubicUpscaler, "upscale_clip", stop_in_beta)
        assert _run(argv, capsys)[0] == 130


def test_resume_on_other_data_is_refused(vid4_tree: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """--resume with another --data-root once averaged the old run's alpha with the new beta."""
    other = tmp_path / "other"
    for seed, clip in enumerate(["alpha", "beta"]):
        _frames(other / "GT" / clip, 4, seed + 10)
    out = tmp_path / "out"
    _stop_in_beta(_bicubic(vid4_tree, out), capsys, monkeypatch)
    code, _, stderr = _run([*_bicubic(other, out), "--resume"], capsys)
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        f"error: cannot resume the evaluation in {out}: the frame files of clip(s) alpha are not those it "
        "scored (another --data-root or --lr-root, or changed files); use the same data, or delete "
        f"{out / 'partial.jsonl'} to start over"
    )
    assert _run([*_bicubic(vid4_tree, out), "--resume"], capsys)[0] == 0  # the same data continues
    alone = tmp_path / "alone"
    assert _run(_bicubic(vid4_tree, alone), capsys)[0] == 0
    resumed, whole = (json.loads((folder / "metrics.json").read_text()) for folder in (out, alone))
    # The scores are a whole run's; a resumed run draws the comparisons of the clips it scored itself.
    assert "comparison_beta.png" in resumed.pop("figures") and "comparison_alpha.png" in whole.pop("figures")
    assert resumed == whole


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda e: e["rows"][0].pop("psnr"),
            "clip alpha: a row without psnr (expected clip, frame, file, psnr, ssim)",
        ),
        (lambda e: e["rows"][0].update(psnr="20.1"), "clip alpha frame 1 psnr must be a number, got '20.1'"),
        (lambda e: e["rows"][0].update(psnr=None), "clip alpha frame 1 psnr must be a number, got None"),
        (
            lambda e: e.update(comment="x"),
            "a clip's line with unknown field(s) comment (expected clip, data, result, rows)",
        ),
    ],
)
def test_a_bad_resume_log_is_one_error_line_and_kept(
    edit, message: str, vid4_tree: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _stop_in_beta(_bicubic(vid4_tree, out), capsys, monkeypatch)
    log = out / "partial.jsonl"
    lines = log.read_text().splitlines()
    entry = json.loads(lines[1])
    edit(entry)
    log.write_text("\n".join([lines[0], json.dumps(entry), *lines[2:]]) + "\n")
    edited = log.read_text()
    code, _, stderr = _run([*_bicubic(vid4_tree, out), "--resume"], capsys)
    assert code == 2 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"error: {log} line 2: {message}; it is not a record of a stopped evaluation: mend that line or "
        "delete the file to start over"
    )
    assert log.read_text() == edited and not (out / "metrics.json").exists()


def test_a_border_crop_that_leaves_nothing(vid4_tree: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, _, stderr = _run([*_bicubic(vid4_tree, out), "--crop-border", "11"], capsys)
    assert code == 2
    assert stderr.strip() == (
        "error: --crop-border 11 leaves nothing of clip alpha's 32x32 frames to score (SSIM needs 11x11): "
        "it can be at most 10"
    )
    assert not out.exists()  # no folder, no log of a run that scored nothing
    assert _run([*_bicubic(vid4_tree, out), "--crop-border", "10"], capsys)[0] == 0


def test_sigterm_says_how_to_continue(tmp_path: Path) -> None:
    """SIGTERM (a scheduler's preemption) once printed only ``interrupted``."""
    for clip in range(100):  # enough that the run is still scoring when the signal comes
        _frames(tmp_path / "clips" / f"c{clip:02d}", 3, clip, size=96)
    out = tmp_path / "out"
    argv = ["--dataset", "folder", "--data-root", str(tmp_path / "clips"), "--method", "bicubic"]
    argv += ["--out", str(out), "--no-progress"]
    log = out / "partial.jsonl"
    code, stderr = stop_with_sigterm(
        [sys.executable, str(REPO / "test.py"), *argv],
        lambda: log.exists() and len(log.read_text().splitlines()) >= 2,
        "a clip scored",
    )
    assert code == 130, stderr
    command = f"python test.py {' '.join(argv)} --resume"
    assert stderr.strip().splitlines()[-2:] == [
        f"WARNING: stopped; the clips scored so far are kept: continue with {command}",
        "interrupted",
    ]
    assert json.loads((out / "partial.jsonl").read_text().splitlines()[-1]) == {"stopped": "interrupted"}
    assert not (out / "lock").exists()  # released for the run that continues
