"""``python test.py`` (lgfn.cli.evaluate) end to end: the no-argument sample run, benchmark runs and one
clear error line per bad input."""

from __future__ import annotations

import csv
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lgfn import save_checkpoint
from lgfn.cli import evaluate, options
from lgfn.cli.console import run_main
from lgfn.data.io import read_image, write_image
from lgfn.inference import VideoSuperResolver
from lgfn.models import LGFN
from tests.helpers import REPO, TINY_MODEL


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = run_main(evaluate.main, argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def finished_clips(out: Path) -> list[str]:
    """The clips a stopped evaluation recorded in ``out/partial.jsonl`` (after its settings line, before
    the line saying how it stopped)."""
    lines = [json.loads(line) for line in (out / "partial.jsonl").read_text().splitlines()]
    assert "settings" in lines[0]
    return [line["clip"] for line in lines[1:] if "stopped" not in line]


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "tiny.pth"
    save_checkpoint(path, LGFN(scale=4, num_frames=5, **TINY_MODEL))
    return path


@pytest.fixture
def vid4_tree(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "Vid4"
    for clip in ["alpha", "beta"]:
        for i in range(4):
            write_image(
                root / "GT" / clip / f"{i:08d}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            )
    return root


def test_sample_run_without_checkpoint_shows_bicubic(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(options, "DEFAULT_CHECKPOINT", tmp_path / "missing.pth")
    out = tmp_path / "out"
    code, stdout, _ = _run(["--max-frames", "5", "--out", str(out), "--no-progress"], capsys)
    assert code == 0
    assert f"no trained checkpoint found at {tmp_path / 'missing.pth'}; showing bicubic only" in stdout
    assert "carphone_pristine | " in stdout and "average" in stdout
    report = json.loads((out / "bicubic" / "metrics.json").read_text())
    assert report["dataset"] == "sample" and report["clips"]["carphone_pristine"]["frames"] == 3
    assert report["protocol"]["max_frames"] == 5
    assert not (out / "lgfn").exists()
    names = [
        "per_frame_psnr.png",
        "per_frame_ssim.png",
        "comparison_carphone_pristine.png",
        "side_by_side.png",
    ]
    assert report["figures"] == [f"../{name}" for name in names]
    figure = read_image(out / "side_by_side.png")
    # Two columns of crops (bicubic, ground truth) beside the whole 176x144 frame enlarged to 288 rows.
    assert figure.shape[0] > 288 and figure.shape[1] > 352 + 2 * 288


@pytest.mark.slow
def test_sample_run_compares_lgfn_with_bicubic(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture, tiny_checkpoint: Path
) -> None:
    monkeypatch.setattr(options, "DEFAULT_CHECKPOINT", tiny_checkpoint)
    out = tmp_path / "out"
    code, stdout, _ = _run(["--max-frames", "6", "--out", str(out), "--no-progress"], capsys)
    assert code == 0
    header = stdout.splitlines()[0]
    assert header.split(" | ")[1:] == ["bicubic     ", "lgfn"]  # bicubic first, then LGFN
    bicubic = json.loads((out / "bicubic" / "metrics.json").read_text())
    lgfn = json.loads((out / "lgfn" / "metrics.json").read_text())
    assert (
        lgfn["protocol"]["checkpoint"] == str(tiny_checkpoint) and lgfn["protocol"]["padding"] == "new_info"
    )
    assert "checkpoint" not in bicubic["protocol"]
    row = next(line for line in stdout.splitlines() if line.startswith("carphone_pristine"))
    expected = [
        f"{r['clips']['carphone_pristine']['psnr']:.2f}/{r['clips']['carphone_pristine']['ssim']:.4f}"
        for r in (bicubic, lgfn)
    ]
    assert [cell.strip() for cell in row.split("|")[1:]] == expected
    figure = read_image(out / "side_by_side.png")
    assert figure.shape[1] > 352 + 3 * 288  # whole frame + bicubic, LGFN and ground-truth crops


@pytest.mark.slow
def test_benchmark_run_with_checkpoint_and_options(
    vid4_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture, tiny_checkpoint: Path
) -> None:
    out = tmp_path / "out"
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--ckpt", str(tiny_checkpoint)]
    argv += ["--clips", "beta", "--padding", "reflection", "--score-all-frames", "--save-images"]
    argv += ["--device", "cpu", "--out", str(out), "--no-progress"]
    code, stdout, _ = _run(argv, capsys)
    assert code == 0, stdout
    report = json.loads((out / "metrics.json").read_text())
    assert list(report["clips"]) == ["beta"] and report["clips"]["beta"]["frames"] == 4
    assert report["protocol"]["padding"] == "reflection" and report["protocol"]["scored_frames"] == "all"
    assert sorted(p.name for p in (out / "images" / "beta").iterdir()) == [f"{i:08d}.png" for i in range(4)]
    assert stdout.splitlines()[1].split("|")[0].strip() == "beta"


@pytest.mark.slow
def test_plain_reference_path_scores_like_the_default_path(
    vid4_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture, tiny_checkpoint: Path
) -> None:
    scores = {}
    for extra in ([], ["--plain"]):
        out = tmp_path / ("plain" if extra else "default")
        argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--ckpt", str(tiny_checkpoint)]
        argv += ["--device", "cpu", "--out", str(out), "--no-progress", *extra]
        code, stdout, _ = _run(argv, capsys)
        assert code == 0, stdout
        scores[bool(extra)] = json.loads((out / "metrics.json").read_text())["average"]
    assert abs(scores[True]["psnr"] - scores[False]["psnr"]) < 1e-3
    assert abs(scores[True]["ssim"] - scores[False]["ssim"]) < 1e-5


def test_interrupted_evaluation_resumes_with_the_clips_it_lacks(
    vid4_tree: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    tiny_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--ckpt", str(tiny_checkpoint)]
    argv += ["--device", "cpu", "--no-progress"]
    assert _run([*argv, "--out", str(tmp_path / "whole")], capsys)[0] == 0

    real, calls = VideoSuperResolver.upscale_clip, []

    def counted(self, frames, *args, **kwargs):
        calls.append(len(calls))
        if interrupt_at == len(calls):
            raise KeyboardInterrupt
        return real(self, frames, *args, **kwargs)

    monkeypatch.setattr(VideoSuperResolver, "upscale_clip", counted)
    out, interrupt_at = tmp_path / "out", 2  # Ctrl-C in the second clip
    argv += ["--out", str(out)]
    code, _, stderr = _run(argv, capsys)
    assert code == 130 and stderr.strip().splitlines()[-1] == "interrupted"
    assert f"continue with {shlex.join(['python', 'test.py', *argv, '--resume'])}\n" in stderr
    assert finished_clips(out) == ["alpha"]
    assert not (out / "metrics.json").exists()

    code, _, stderr = _run(argv, capsys)
    assert code == 2 and "holds the scores of 1 clip(s) of an interrupted evaluation" in stderr
    code, _, stderr = _run([*argv, "--resume", "--padding", "reflection"], capsys)
    assert code == 2 and "protocol.padding: 'new_info' then, 'reflection' now" in stderr

    calls.clear()
    interrupt_at = None
    code, stdout, _ = _run([*argv, "--resume"], capsys)
    assert code == 0, stdout
    assert len(calls) == 1  # beta only: alpha's scores came from the interrupted run
    resumed, whole = (
        json.loads((folder / "metrics.json").read_text()) for folder in (out, tmp_path / "whole")
    )
    # The curves come from every clip's rows; alpha's frames went with the interrupted run: no comparison.
    assert resumed.pop("figures") == ["per_frame_psnr.png", "per_frame_ssim.png", "comparison_beta.png"]
    assert whole.pop("figures")[2:] == ["comparison_alpha.png", "comparison_beta.png"]
    assert resumed == whole
    assert (out / "per_frame_psnr.png").read_bytes() == (
        tmp_path / "whole" / "per_frame_psnr.png"
    ).read_bytes()
    assert (out / "per_frame.csv").read_text() == (tmp_path / "whole" / "per_frame.csv").read_text()
    assert not (out / "partial.jsonl").exists()


def test_benchmark_figures_and_no_figures(
    vid4_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--method", "bicubic", "--no-progress"]
    code, stdout, _ = _run([*argv, "--out", str(tmp_path / "with")], capsys)
    report = json.loads((tmp_path / "with" / "metrics.json").read_text())
    names = ["per_frame_psnr.png", "per_frame_ssim.png", "comparison_alpha.png", "comparison_beta.png"]
    assert code == 0 and report["figures"] == names
    assert f"figures in {tmp_path / 'with'}: {', '.join(names)}" in stdout
    assert all(read_image(tmp_path / "with" / name).shape[1] >= 400 for name in names)
    code, stdout, _ = _run([*argv, "--out", str(tmp_path / "without"), "--no-figures"], capsys)
    assert code == 0 and "figures" not in json.loads((tmp_path / "without" / "metrics.json").read_text())
    assert not list((tmp_path / "without").glob("*.png")) and "figures in" not in stdout


def test_bicubic_on_folder_with_lr_files_and_rgb(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(1)
    for i in range(3):
        write_image(tmp_path / "hr" / "clip" / f"{i}.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
        write_image(tmp_path / "lr" / "clip" / f"{i}.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    out = tmp_path / "out"
    argv = ["--dataset", "folder", "--data-root", str(tmp_path / "hr"), "--lr-root", str(tmp_path / "lr")]
    argv += ["--method", "bicubic", "--rgb", "--crop-border", "2", "--out", str(out), "--no-progress"]
    code, _, _ = _run(argv, capsys)
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["protocol"]["lr"] == f"read from {tmp_path / 'lr'}"
    assert report["protocol"]["metric"] == "rgb" and report["protocol"]["crop_border"] == 2
    assert report["clips"]["clip"]["frames"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "folder", "--method", "bicubic"], "--dataset folder needs --data-root"),
        (
            ["--dataset", "vid4", "--method", "bicubic", "--data-root", "{tmp}/nope"],
            "Vid4 folder not found: ",
        ),
        (
            ["--dataset", "vid4", "--method", "bicubic", "--data-root", "{vid4}", "--clips", "gamma"],
            "no clip named gamma",
        ),
        (["--dataset", "vid4", "--data-root", "{vid4}", "--ckpt", "{tmp}/none.pth"], "none.pth"),
        (["--dataset", "vid4", "--data-root", "{vid4}", "--ckpt", "{tmp}/junk.pth"], "junk.pth"),
        (["--dataset", "vid4", "--data-root", "{vid4}", "--ckpt", "{ckpt}", "--scale", "2"], "upscales x4"),
        (
            ["--dataset", "vimeo90k", "--method", "bicubic", "--data-root", "{tmp}", "--split-list", "x"],
            "NAME=FILE",
        ),
        (
            ["--dataset", "spmcs", "--method", "bicubic", "--data-root", "{tmp}", "--lr-root", "{tmp}"],
            "--lr-from-files",
        ),
        (["--method", "bicubic", "--ckpt", "{ckpt}"], "takes no --ckpt"),
        (["--max-frames", "0"], "--max-frames must be at least 1"),
        (["--data-root", "{vid4}"], "--data-root does not apply to --dataset sample"),
        (["--crop-border", "-1"], "--crop-border must be 0 or more"),
    ],
)
def test_bad_arguments_give_one_error_line(
    argv: list[str],
    message: str,
    vid4_tree: Path,
    tmp_path: Path,
    tiny_checkpoint: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    argv = [a.format(tmp=tmp_path, vid4=vid4_tree, ckpt=tiny_checkpoint) for a in argv]
    code, _, stderr = _run([*argv, "--no-progress", "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], stderr


def test_bad_frames(vid4_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A truncated frame (through the real command line) and a grey frame (found up front): one error
    line, exit 2."""
    frame = vid4_tree / "GT" / "beta" / "00000002.png"
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) // 2])
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--method", "bicubic", "--no-progress"]
    argv += ["--out", str(tmp_path / "out")]
    result = subprocess.run(
        [sys.executable, str(REPO / "test.py"), *argv], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"error: {frame}: corrupt or truncated image file (image file is truncated)"
    )
    assert "Traceback" not in result.stderr

    # The clip before the broken one is scored and kept for --resume, and the log says how the run ended.
    assert finished_clips(tmp_path / "out") == ["alpha"]
    code, _, stderr = _run(argv, capsys)
    assert (
        code == 2
        and "holds the scores of 1 clip(s) of an evaluation that stopped on an error (error: " in stderr
    )
    assert "corrupt or truncated image file" in stderr and "interrupted" not in stderr

    Image.fromarray(np.zeros((32, 32), np.uint8)).save(frame)
    code, _, stderr = _run([*argv, "--clips", "beta", "--resume"], capsys)
    assert code == 2
    # The grey frame's header gives it away before any work: the one line is the error.
    [line] = stderr.strip().splitlines()
    assert line.startswith(f"error: {frame}: expected a 3-channel RGB image, got grey-scale (")


def test_missing_data_root_via_subprocess(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(REPO / "test.py"),
        "--dataset",
        "spmcs",
        "--data-root",
        str(tmp_path / "x"),
    ]
    result = subprocess.run([*command, "--method", "bicubic"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: SPMCS folder not found: {tmp_path / 'x'} is not a folder (expected "
        "ROOT/<clip>/truth/<frames>, e.g. ROOT/car05_001/truth/0000.png; --data-root sets ROOT; "
        "see data/README.md)"
    )
    assert result.stdout == ""


def test_an_output_folder_that_is_a_file(
    vid4_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "afile").write_text("not a folder")
    for out in (tmp_path / "afile", tmp_path / "afile" / "run"):
        argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--method", "bicubic", "--no-progress"]
        code, _, stderr = _run([*argv, "--out", str(out)], capsys)
        assert code == 2 and "Traceback" not in stderr
        assert f"cannot make the output folder {out}" in stderr


def test_several_checkpoints_in_one_table(
    vid4_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture, tiny_checkpoint: Path
) -> None:
    torch.manual_seed(1)
    other = tmp_path / "runs" / "b" / "tiny.pth"  # the same file name in another folder
    other.parent.mkdir(parents=True)
    save_checkpoint(other, LGFN(scale=4, num_frames=5, **TINY_MODEL))
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--device", "cpu", "--no-progress"]
    code, stdout, _ = _run(
        [*argv, "--ckpt", str(tiny_checkpoint), str(other), "--out", str(tmp_path / "both")], capsys
    )
    assert code == 0, stdout
    header = stdout.splitlines()[0]
    assert [cell.strip() for cell in header.split("|")] == ["clip", "tiny", "b_tiny"]
    for name, checkpoint in (("tiny", tiny_checkpoint), ("b_tiny", other)):
        alone = tmp_path / f"alone_{name}"
        assert _run([*argv, "--ckpt", str(checkpoint), "--out", str(alone)], capsys)[0] == 0
        both = json.loads((tmp_path / "both" / name / "metrics.json").read_text())
        single = json.loads((alone / "metrics.json").read_text())
        assert both["clips"] == single["clips"] and both["method"] == name
    scores = [
        json.loads((tmp_path / "both" / n / "metrics.json").read_text())["average"]
        for n in ("tiny", "b_tiny")
    ]
    assert scores[0] != scores[1]  # two different networks, two columns

    wider = tmp_path / "x2.pth"
    save_checkpoint(wider, LGFN(scale=2, num_frames=5, **TINY_MODEL))
    code, _, stderr = _run([*argv, "--ckpt", str(tiny_checkpoint), str(wider)], capsys)
    assert code == 2 and "upscale by different factors" in stderr


def _per_frame(out: Path) -> dict[tuple[str, str], float]:
    with (out / "per_frame.csv").open() as f:
        return {(row["clip"], row["frame"]): float(row["psnr"]) for row in csv.DictReader(f)}


def test_max_frames_scores_the_first_frames_of_each_clip(
    vid4_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--max-frames with a dataset (once silently ignored): the first N frames of each clip, the
    shortened clip's inner frames scored, recorded in metrics.json."""
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--method", "bicubic", "--no-progress"]
    assert _run([*argv, "--out", str(tmp_path / "all")], capsys)[0] == 0
    code, stdout, _ = _run([*argv, "--max-frames", "3", "--out", str(tmp_path / "first")], capsys)
    assert code == 0, stdout
    report = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert report["protocol"]["max_frames"] == 3
    assert {clip: scores["frames"] for clip, scores in report["clips"].items()} == {"alpha": 1, "beta": 1}
    assert "max_frames" not in json.loads((tmp_path / "all" / "metrics.json").read_text())["protocol"]
    first, every = _per_frame(tmp_path / "first"), _per_frame(tmp_path / "all")
    assert list(first) == [("alpha", "1"), ("beta", "1")]
    assert len(every) == 4 and all(first[key] == every[key] for key in first)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--sample-clip", "bikes", "--dataset", "vid4"],
            "--sample-clip does not apply to --dataset vid4: it is for --dataset sample",
        ),
        (
            ["--clips", "x"],
            "--clips does not apply to --dataset sample: the sample is one clip: choose it "
            "with --sample-clip",
        ),
        (["--lr-root", "{tmp}"], "--lr-root does not apply to --dataset sample"),
        (["--lr-from-files"], "--lr-from-files does not apply to --dataset sample"),
        (
            ["--test-list", "{tmp}/list.txt", "--dataset", "vid4"],
            "--test-list does not apply to --dataset vid4: it is for --dataset vimeo90k",
        ),
        (["--split-list", "a=b", "--dataset", "folder"], "--split-list does not apply to --dataset folder"),
        (
            ["--max-frames", "3", "--dataset", "vimeo90k"],
            "--max-frames does not apply to --dataset "
            "vimeo90k: vimeo90k scores the centre of each 7-frame septuplet",
        ),
        (
            ["--lr-from-files", "--dataset", "folder"],
            "--lr-from-files does not apply to --dataset folder: "
            "a folder of clips has no LR frames of its own: use --lr-root",
        ),
        (["--lr-from-files", "--dataset", "vimeo90k"], "vimeo90k keeps LR frames in a separate tree"),
        (["--lr-root", "{tmp}", "--dataset", "spmcs"], "spmcs keeps LR frames inside each clip folder"),
        (
            ["--degradation", "bd", "--lr-from-files", "--dataset", "vid4"],
            "--degradation makes LR frames from the ground truth: it does not apply with --lr-from-files",
        ),
        (
            ["--degradation", "bi", "--lr-root", "{tmp}", "--dataset", "folder"],
            "it does not apply with --lr-root",
        ),
        (["--max-frames", "0", "--dataset", "vid4"], "--max-frames must be at least 1, got 0"),
    ],
)
def test_an_option_the_dataset_does_not_take_is_refused(
    argv: list[str], message: str, vid4_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Every dataset option works with the datasets it is given with or ends in one error line, before
    any work (the data root exists, so nothing else could fail first)."""
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--dataset" in argv:
        argv += ["--data-root", str(vid4_tree), "--method", "bicubic"]
    code, stdout, stderr = _run([*argv, "--no-progress", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], stderr
    assert not (tmp_path / "out").exists()


def test_benchmarks_default_to_their_folder_under_data(
    monkeypatch: pytest.MonkeyPatch, vid4_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    repo = tmp_path / "repo"
    monkeypatch.setattr(evaluate, "REPO", repo)
    argv = ["--dataset", "vid4", "--method", "bicubic", "--no-progress"]
    code, _, stderr = _run(argv, capsys)
    assert code == 2
    assert stderr.strip() == (
        f"error: Vid4 folder not found: {repo / 'data' / 'Vid4'} is not a folder (expected "
        "ROOT/GT/<clip>/<frames>, e.g. ROOT/GT/calendar/00000000.png; --data-root sets ROOT; "
        "see data/README.md)"
    )
    shutil.copytree(vid4_tree, repo / "data" / "Vid4")
    code, stdout, _ = _run(argv, capsys)
    assert code == 0, stdout
    assert list(json.loads((repo / "results" / "vid4_bicubic" / "metrics.json").read_text())["clips"]) == [
        "alpha",
        "beta",
    ]


def test_a_missing_folder_of_clips_is_named_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Once "folder folder not found"."""
    argv = ["--dataset", "folder", "--data-root", str(tmp_path / "mine"), "--method", "bicubic"]
    code, _, stderr = _run(argv, capsys)
    assert code == 2
    assert stderr.strip() == (
        f"error: folder of clips not found: {tmp_path / 'mine'} is not a folder (expected "
        "ROOT/<clip>/<frames>, one folder of frames per clip, e.g. ROOT/street/0000.png; "
        "--data-root sets ROOT; see data/README.md)"
    )
