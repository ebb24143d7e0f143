"""The resume log of a stopped evaluation: reading it (a last line cut short by a crash is dropped, any
other line must be whole and valid), the settings and data checks, how the run stopped, the record of
a finished evaluation, and whole runs resumed after a crash, on other data, or when already complete."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lgfn.data.eval_datasets import FolderDataset, FramesDataset
from lgfn.errors import ConfigError
from lgfn.evaluation.evaluator import evaluate
from lgfn.evaluation.resume import (
    PARTIAL_FILE,
    SETTINGS_FILE,
    ResumeLog,
    ResumeRecord,
    read_resume_log,
    resume_command,
    resume_settings,
)
from lgfn.evaluation.scoring import ClipScores, clip_result
from lgfn.inference import BicubicUpscaler
from tests.helpers import write_clips

SETTINGS = {"dataset": "toy", "method": "bicubic", "protocol.scale": 4}


def _scores(key: str, psnr: float) -> ClipScores:
    row = {"clip": key, "frame": 1, "file": "1.png", "psnr": psnr, "ssim": 0.5}
    return ClipScores({"psnr": psnr, "ssim": 0.5, "frames": 1}, [row])


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _line(key: str, psnr: float = 30.0) -> str:
    scores = _scores(key, psnr)
    return json.dumps({"clip": key, "data": "d", "result": scores.result, "rows": scores.rows})


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
    log.start(SETTINGS, ResumeRecord())
    assert _lines(tmp_path / PARTIAL_FILE) == [{"settings": SETTINGS}]
    log.record("a", _scores("a", 30.0), "4 files, sha256 1")
    log.record("b", _scores("b", 20.0), "4 files, sha256 2")
    assert _lines(tmp_path / PARTIAL_FILE)[1] == {
        "clip": "a",
        "data": "4 files, sha256 1",
        "result": {"psnr": 30.0, "ssim": 0.5, "frames": 1},
        "rows": [{"clip": "a", "frame": 1, "file": "1.png", "psnr": 30.0, "ssim": 0.5}],
    }
    assert read_resume_log(tmp_path / PARTIAL_FILE) == ResumeRecord(
        SETTINGS,
        {"a": _scores("a", 30.0), "b": _scores("b", 20.0)},
        {"a": "4 files, sha256 1", "b": "4 files, sha256 2"},
    )
    log.stop("interrupted")
    assert read_resume_log(tmp_path / PARTIAL_FILE).stopped == "interrupted"
    log.remove()
    assert not (tmp_path / PARTIAL_FILE).exists()
    log.remove()  # nothing to remove: no error


def test_a_stop_without_a_finished_clip_leaves_no_log(tmp_path: Path) -> None:
    log = ResumeLog(tmp_path)
    log.start(SETTINGS, ResumeRecord())
    log.stop("error: a bad frame")
    assert not (tmp_path / PARTIAL_FILE).exists()


def test_reading_tolerates_only_a_last_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / PARTIAL_FILE
    settings = json.dumps({"settings": SETTINGS})
    a, b = _line("a"), _line("b")
    path.write_text(f"{settings}\n{a}\n{b[:20]}")
    assert read_resume_log(path).clips == {"a": _scores("a", 30.0)}
    path.write_text(f"{settings}\n")
    assert read_resume_log(path) == ResumeRecord()  # settings alone: nothing to keep
    path.write_text(f"{settings}\n{b[:20]}\n{a}\n")
    with pytest.raises(
        ConfigError, match=f"{path} line 2: not a JSON line; .* delete the file to start over"
    ):
        read_resume_log(path)
    path.write_text(f"{a}\n{b}\n")  # no settings line
    with pytest.raises(ConfigError, match=r"line 1: expected the settings line"):
        read_resume_log(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # A score made null averaged PSNR over 3 clips and SSIM over 4; now the line is refused.
        (lambda e: e["rows"][0].update(psnr=None), r"clip b frame 1 psnr must be a number, got None"),
        (lambda e: e["result"].update(psnr=None), "clip b: the result is not the mean of its rows"),
        (lambda e: e["rows"][0].update(ssim="0.5"), r"clip b frame 1 ssim must be a number, got '0.5'"),
        (lambda e: e["rows"][0].pop("psnr"), "clip b: a row without psnr"),
        (lambda e: e["result"].pop("psnr"), "clip b: the result without psnr"),
        (lambda e: e.update(note="edited"), r"a clip's line with unknown field\(s\) note"),
        (lambda e: e["rows"][0].update(lpips=0.1), r"clip b: a row with unknown field\(s\) lpips"),
        (lambda e: e["result"].update(psnr=31.0), "clip b: the result is not the mean of its rows"),
        (lambda e: e["rows"][0].update(frame="1"), 'clip b: a row.s "clip" must be .b., "frame" an integer'),
        (lambda e: e.update(rows=[]), 'clip b: "rows" must be a list of its scored frames'),
        (lambda e: e.pop("data"), "a clip's line without data"),
        (lambda e: e.update(clip="a", rows=[{**e["rows"][0], "clip": "a"}]), "clip a is recorded twice"),
    ],
)
def test_a_clip_line_must_be_whole_and_valid(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / PARTIAL_FILE
    entry = json.loads(_line("b"))
    edit(entry)
    path.write_text(
        f"{json.dumps({'settings': SETTINGS})}\n{_line('a')}\n{json.dumps(entry)}\n{_line('c')}\n"
    )
    with pytest.raises(ConfigError, match=f"{path} line 3: {message}"):
        read_resume_log(path)


def test_finished_clips_check_the_settings_data_and_how_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / PARTIAL_FILE
    log = ResumeLog(tmp_path)
    log.start(SETTINGS, ResumeRecord())
    log.record("a", _scores("a", 30.0), "one")
    with path.open("a") as handle:
        handle.write('{"clip": "b", "res')  # a crash cut this line short
    data = {"a": "one", "b": "two"}

    with pytest.raises(
        ConfigError, match=r"holds the scores of 1 clip\(s\) of an evaluation that stopped part"
    ):
        log.finished(SETTINGS, data, resume=False, overwrite=False)
    with pytest.raises(ConfigError, match=r"other settings \(method: 'bicubic' then, 'lgfn' now\)"):
        log.finished({**SETTINGS, "method": "lgfn"}, data, resume=True, overwrite=False)
    with pytest.raises(ConfigError, match=r"the frame files of clip\(s\) a are not those it scored"):
        log.finished(SETTINGS, {"a": "other", "b": "two"}, resume=True, overwrite=False)
    assert log.finished(SETTINGS, data, resume=False, overwrite=True) == ResumeRecord()  # start over
    record = log.finished(SETTINGS, data, resume=True, overwrite=False)
    assert record.clips == {"a": _scores("a", 30.0)}
    assert path.read_text().endswith('"res')  # reading wrote nothing
    log.start(SETTINGS, record)
    assert [line.get("clip") for line in _lines(path)] == [None, "a"]  # rewritten without the cut line
    log.record("b", _scores("b", 20.0), "two")
    assert [line.get("clip") for line in _lines(path)] == [None, "a", "b"]

    for stopped, described in [
        ("interrupted", "of an interrupted evaluation"),
        (
            "error: frame 3 is truncated",
            r"of an evaluation that stopped on an error \(error: frame 3 is trunc",
        ),
    ]:
        log.stop(stopped)
        with pytest.raises(ConfigError, match=described):
            log.finished(SETTINGS, data, resume=False, overwrite=False)
        log.start(SETTINGS, log.finished(SETTINGS, data, resume=True, overwrite=False))


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
            raise Crash("in c")

    with pytest.raises(Crash):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False, frame_callback=crash_in_c)
    partial = out / "partial.jsonl"
    recorded = partial.read_text().splitlines()
    assert [json.loads(line).get("clip") for line in recorded] == [None, "a", "b", None]
    assert json.loads(recorded[3]) == {"stopped": "error: in c"}
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


def _stop_after_first_clip(dataset, out: Path) -> None:
    def stop(key: str, *_) -> None:
        if key != dataset.clips[0].key:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False, frame_callback=stop)


def test_resume_refuses_other_data(tmp_path: Path) -> None:
    """--resume with another data root once averaged the old clips' scores with the new ones."""
    first, second = write_clips(tmp_path / "first"), tmp_path / "second"
    shutil.copytree(first, second)
    out = tmp_path / "out"
    _stop_after_first_clip(FolderDataset(first), out)
    assert _lines(out / PARTIAL_FILE)[-1] == {"stopped": "interrupted"}
    with pytest.raises(ConfigError, match=r"the frame files of clip\(s\) clip0 are not those it scored"):
        evaluate(FolderDataset(second), BicubicUpscaler(4), out_dir=out, progress=False, resume=True)
    # The same frames rewritten (another modification time) are other data too.
    frame = first / "clip0" / "0001.png"
    frame.write_bytes(frame.read_bytes())
    with pytest.raises(ConfigError, match="not those it scored"):
        evaluate(FolderDataset(first), BicubicUpscaler(4), out_dir=out, progress=False, resume=True)


def test_a_finished_evaluation_is_complete_or_kept(tmp_path: Path) -> None:
    root, out = write_clips(tmp_path / "clips"), tmp_path / "out"
    report = evaluate(FolderDataset(root), BicubicUpscaler(4), out_dir=out, progress=False)
    recorded = json.loads((out / SETTINGS_FILE).read_text())
    assert recorded["method"] == "BicubicUpscaler" and recorded["data"].startswith("2 clips, sha256 ")

    scored = []

    def count(key: str, *_) -> None:
        scored.append(key)

    def again(**options) -> dict:
        return evaluate(FolderDataset(root, **options.pop("data", {})), BicubicUpscaler(4), out_dir=out,
                        progress=False, frame_callback=count, **options)  # fmt: skip

    assert again(resume=True) == report and scored == []  # complete: nothing computed
    assert again() == report and scored  # the same settings without --resume: computed again, replaced
    metrics = (out / "metrics.json").read_text()
    with pytest.raises(
        ConfigError,
        match=r"holds a finished evaluation made with other settings \(.*max_frames: None then, 3 now",
    ):
        again(data={"max_frames": 3})  # a quick look over a finished full run
    with pytest.raises(ConfigError, match="other settings .*pass another --out, or --overwrite"):
        again(crop_border=1, resume=True)
    assert (out / "metrics.json").read_text() == metrics
    quick = again(data={"max_frames": 3}, overwrite=True)
    assert quick["protocol"]["max_frames"] == 3
    assert json.loads((out / "metrics.json").read_text()) == quick
    (out / SETTINGS_FILE).unlink()  # e.g. a report of an older version
    with pytest.raises(ConfigError, match="without a readable record of its settings"):
        again(data={"max_frames": 3}, resume=True)


def test_resume_command_adds_resume_once() -> None:
    assert resume_command(["--out", "my results"]) == "python test.py --out 'my results' --resume"
    assert resume_command(["--resume", "-v"]) == "python test.py --resume -v"


def _frames_line(key: str, frames: list[int], data: str = "d") -> dict:
    rows = [{"clip": key, "frame": f, "file": f"{f}.png", "psnr": 30.0 + f, "ssim": 0.5} for f in frames]
    return {"frames": key, "data": data, "rows": rows}


def test_frames_of_an_unfinished_clip_read_back_and_give_way_to_its_line(tmp_path: Path) -> None:
    path = tmp_path / PARTIAL_FILE
    settings = json.dumps({"settings": SETTINGS})
    first, second = json.dumps(_frames_line("b", [1, 2])), json.dumps(_frames_line("b", [3]))
    path.write_text(f"{settings}\n{_line('a')}\n{first}\n{second}\n{second[:30]}")
    record = read_resume_log(path)
    assert list(record.clips) == ["a"] and record.data == {"a": "d", "b": "d"}
    assert [row["frame"] for row in record.partial["b"]] == [1, 2, 3]
    assert record.kept() == "1 clip(s) and 3 frame(s) of clip b"
    path.write_text(f"{settings}\n{first}\n")  # frames alone are something to keep
    assert list(read_resume_log(path).partial) == ["b"]

    rows = _frames_line("b", [1, 2, 3])["rows"]
    whole = {"clip": "b", "data": "d", "result": clip_result(rows, ["psnr", "ssim"]), "rows": rows}
    path.write_text(f"{settings}\n{first}\n{json.dumps(whole)}\n")
    record = read_resume_log(path)
    assert record.partial == {} and record.clips["b"].rows == rows  # the clip's line supersedes its frames
    rows[0]["psnr"] = 20.0
    whole["result"] = clip_result(rows, ["psnr", "ssim"])
    path.write_text(f"{settings}\n{first}\n{json.dumps(whole)}\n")
    with pytest.raises(ConfigError, match="line 3: clip b: its rows do not begin with the frames kept of it"):
        read_resume_log(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e["rows"][0].update(psnr=None), r"clip b frame 2 psnr must be a number, got None"),
        (lambda e: e["rows"][0].pop("ssim"), "clip b: a row without ssim"),
        (lambda e: e.update(note="x"), r"a line of frames with unknown field\(s\) note"),
        (lambda e: e.pop("data"), "a line of frames without data"),
        (lambda e: e["rows"][0].update(frame=1), r"frames of clip b: frames \[1, 1\] are not increasing"),
        (lambda e: e.update(data="other"), 'frames of clip b: "data" is not that of its earlier frames'),
        (lambda e: e.update(frames=None), '"frames" and "data" must be strings'),
        (lambda e: e.update(rows=[]), 'clip b: "rows" must be a list of its scored frames'),
        (lambda e: e.update(_frames_line("a", [2])), "frames of clip a after its finished clip's line"),
    ],
)
def test_a_frames_line_must_be_whole_and_valid(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / PARTIAL_FILE
    entry = _frames_line("b", [2])
    edit(entry)
    lines = [
        {"settings": SETTINGS},
        json.loads(_line("a")),
        _frames_line("b", [1]),
        entry,
        _frames_line("b", [3]),
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(ConfigError, match=f"{path} line 4: {message}"):
        read_resume_log(path)
