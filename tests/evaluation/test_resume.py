"""The resume log of an interrupted evaluation: reading it (a last line cut short by a crash is
dropped), the settings check, appending and rewriting, and a whole run resumed after a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lgfn.data.eval_datasets import FramesDataset
from lgfn.errors import ConfigError
from lgfn.evaluation.evaluator import evaluate
from lgfn.evaluation.resume import PARTIAL_FILE, ResumeLog, read_resume_log, resume_settings
from lgfn.evaluation.scoring import ClipScores
from lgfn.inference import BicubicUpscaler

SETTINGS = {"dataset": "toy", "method": "bicubic", "protocol.scale": 4}


def _scores(key: str, psnr: float) -> ClipScores:
    row = {"clip": key, "frame": 1, "file": "1.png", "psnr": psnr, "ssim": 0.5}
    return ClipScores({"psnr": psnr, "ssim": 0.5, "frames": 1}, [row])


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_resume_settings_are_json_values() -> None:
    settings = resume_settings(
        "toy", "lgfn", {"scale": 4, "tile": (64, 64)}, {"checkpoint_file": {"bytes": 1}}
    )
    assert settings == {
        "dataset": "toy",
        "method": "lgfn",
        "protocol.scale": 4,
        "protocol.tile": [64, 64],  # as the settings read back from the file
        "checkpoint_file": {"bytes": 1},
    }


def test_log_records_reads_back_and_is_removed(tmp_path: Path) -> None:
    log = ResumeLog(tmp_path)
    assert log.start(SETTINGS, resume=False) == {}
    assert _lines(tmp_path / PARTIAL_FILE) == [{"settings": SETTINGS}]
    log.record("a", _scores("a", 30.0))
    log.record("b", _scores("b", 20.0))
    assert _lines(tmp_path / PARTIAL_FILE)[1] == {
        "clip": "a",
        "result": {"psnr": 30.0, "ssim": 0.5, "frames": 1},
        "rows": [{"clip": "a", "frame": 1, "file": "1.png", "psnr": 30.0, "ssim": 0.5}],
    }
    assert read_resume_log(tmp_path / PARTIAL_FILE) == (
        SETTINGS,
        {"a": _scores("a", 30.0), "b": _scores("b", 20.0)},
    )
    log.remove()
    assert not (tmp_path / PARTIAL_FILE).exists()
    log.remove()  # nothing to remove: no error


def test_reading_tolerates_only_a_last_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / PARTIAL_FILE
    settings = json.dumps({"settings": SETTINGS})
    a, b = (json.dumps({"clip": key, "result": {}, "rows": []}) for key in "ab")
    path.write_text(f"{settings}\n{a}\n{b[:20]}")
    assert read_resume_log(path) == (SETTINGS, {"a": ClipScores({}, [])})
    path.write_text(f"{settings}\n")
    assert read_resume_log(path) == ({}, {})  # settings alone: nothing to keep
    path.write_text(f"{settings}\n{b[:20]}\n{a}\n")
    with pytest.raises(
        ConfigError, match=f"{path} is not readable scores of an interrupted evaluation; delete it"
    ):
        read_resume_log(path)
    path.write_text(f"{a}\n{b}\n")  # no settings line
    with pytest.raises(ConfigError, match="not readable scores"):
        read_resume_log(path)


def test_start_checks_the_settings_and_rewrites_the_log(tmp_path: Path) -> None:
    path = tmp_path / PARTIAL_FILE
    log = ResumeLog(tmp_path)
    log.start(SETTINGS, resume=False)
    log.record("a", _scores("a", 30.0))
    with path.open("a") as handle:
        handle.write('{"clip": "b", "res')  # a crash cut this line short

    with pytest.raises(ConfigError, match=r"holds the scores of 1 clip\(s\) of an interrupted evaluation"):
        log.start(SETTINGS, resume=False)
    with pytest.raises(ConfigError, match=r"other settings \(method: 'bicubic' then, 'lgfn' now\)"):
        log.start({**SETTINGS, "method": "lgfn"}, resume=True)
    assert log.start(SETTINGS, resume=True) == {"a": _scores("a", 30.0)}
    assert [line.get("clip") for line in _lines(path)] == [None, "a"]  # rewritten without the cut line
    log.record("b", _scores("b", 20.0))
    assert [line.get("clip") for line in _lines(path)] == [None, "a", "b"]


def test_resume_after_a_crash_cut_the_last_line_short(tmp_path: Path, random_frames) -> None:
    clips = {name: random_frames(3, 16, 16, seed) for seed, name in enumerate(["a", "b", "c"])}
    dataset = FramesDataset(clips, name="toy")
    whole = evaluate(dataset, BicubicUpscaler(4), out_dir=tmp_path / "whole", progress=False)
    assert not (tmp_path / "whole" / "partial.jsonl").exists()  # removed once the evaluation is complete
    out = tmp_path / "out"

    class Crash(Exception):
        pass

    def crash_in_c(key: str, *_) -> None:
        if key == "c":
            raise Crash

    with pytest.raises(Crash):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False, frame_callback=crash_in_c)
    partial = out / "partial.jsonl"
    recorded = partial.read_text().splitlines()
    assert [json.loads(line).get("clip") for line in recorded] == [None, "a", "b"]
    partial.write_text("\n".join(recorded[:2]) + "\n" + recorded[2][:25])  # "b" cut short, no newline

    with pytest.raises(ConfigError, match="pass --resume"):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False)
    scored = []
    resumed = evaluate(
        dataset,
        BicubicUpscaler(4),
        out_dir=out,
        progress=False,
        resume=True,
        frame_callback=lambda k, *_: scored.append(k),
    )
    assert sorted(set(scored)) == ["b", "c"]  # "a" was kept, "b" is run again
    assert resumed == whole
    assert (out / "per_frame.csv").read_text() == (tmp_path / "whole" / "per_frame.csv").read_text()
    assert not partial.exists()
