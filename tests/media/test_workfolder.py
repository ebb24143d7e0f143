"""The work folder on its own, without a sink or a video: lock, job record, resume, moving into place."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lgfn.errors import LGFNError
from lgfn.media import workfolder
from lgfn.media.workfolder import (
    JOB_FILE,
    LOCK_FILE,
    lock_work_folder,
    move_into_place,
    prepare_work_folder,
    refuse_existing_output,
    unlock_work_folder,
    work_folder,
)

JOB = {"model": "a", "fps": "25"}
NO_PROCESS = 999_999_999  # above any process id the kernel hands out


def prepare(tmp_path: Path, done: int = 0, job: dict = JOB, **flags: bool) -> int:
    """``prepare_work_folder`` for ``tmp_path/out`` whose work folder holds ``done`` finished frames."""
    out = tmp_path / "out"
    options = {"resume": False, "overwrite": False, **flags}
    return prepare_work_folder(work_folder(out), out, job, finished=lambda: done, **options)


def leave_work(tmp_path: Path, job: dict | None = JOB, holder: int = NO_PROCESS) -> Path:
    """A work folder as an interrupted run leaves it: a finished piece, its settings, a stale lock."""
    work = work_folder(tmp_path / "out")
    work.mkdir()
    (work / "piece").write_text("finished")
    if job is not None:
        (work / JOB_FILE).write_text(json.dumps(job))
    (work / LOCK_FILE).write_text(str(holder))
    return work


def test_work_folder_is_hidden_beside_the_output(tmp_path):
    assert work_folder(tmp_path / "clip.mp4") == tmp_path / ".clip.mp4.partial"
    assert work_folder("frames") == Path(".frames.partial")


# ---------------------------------------------------------------------------------------------
# The lock


def test_a_new_work_folder_is_locked_and_records_its_job(tmp_path):
    assert prepare(tmp_path) == 0
    work = work_folder(tmp_path / "out")
    assert sorted(os.listdir(work)) == [JOB_FILE, LOCK_FILE]  # no temporary file of the atomic write left
    assert (work / LOCK_FILE).read_text() == str(os.getpid())
    assert json.loads((work / JOB_FILE).read_text()) == JOB
    unlock_work_folder(work)
    assert sorted(os.listdir(work)) == [JOB_FILE]
    unlock_work_folder(work)  # already released: nothing to do


def test_a_lock_held_by_a_live_process_is_refused(tmp_path):
    work = leave_work(tmp_path, holder=os.getppid())
    with pytest.raises(LGFNError, match=f"another run .process {os.getppid()}. is writing .*out; wait"):
        lock_work_folder(work, tmp_path / "out")
    with pytest.raises(LGFNError, match=f"process {os.getppid()}"):
        prepare(tmp_path, done=1, resume=True)
    assert (work / LOCK_FILE).read_text() == str(os.getppid())  # still theirs
    assert (work / "piece").exists()


@pytest.mark.parametrize("stale", [str(NO_PROCESS), "not a number", ""])
def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, stale):
    work = leave_work(tmp_path)
    (work / LOCK_FILE).write_text(stale)
    lock_work_folder(work, tmp_path / "out")
    assert (work / LOCK_FILE).read_text() == str(os.getpid())
    lock_work_folder(work, tmp_path / "out")  # this process's own lock: taken again
    assert (work / LOCK_FILE).read_text() == str(os.getpid())


def test_a_work_folder_made_at_the_same_moment_is_refused(tmp_path, monkeypatch):
    def made_meanwhile(self, *args, **kwargs):
        raise FileExistsError(17, "File exists", str(self))

    monkeypatch.setattr(Path, "mkdir", made_meanwhile)  # another run made it after the check
    with pytest.raises(LGFNError, match="another run is writing .*out; wait for it"):
        prepare(tmp_path)


# ---------------------------------------------------------------------------------------------
# Links: never followed


def test_a_work_folder_that_is_a_link_is_refused_and_nothing_is_written_where_it_points(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / LOCK_FILE).write_text("someone's file named lock")
    (elsewhere / JOB_FILE).write_text("someone's job.json")
    work_folder(tmp_path / "out").symlink_to(elsewhere)
    for flags in ({}, {"resume": True}, {"overwrite": True}):
        with pytest.raises(LGFNError, match=f"is a symbolic link to {elsewhere}; lgfn upscale writes only"):
            prepare(tmp_path, done=3, **flags)
    assert (elsewhere / LOCK_FILE).read_text() == "someone's file named lock"
    assert sorted(os.listdir(elsewhere)) == [JOB_FILE, LOCK_FILE]


@pytest.mark.parametrize("name", [LOCK_FILE, JOB_FILE, "frames", "frames/00000000.png"])
def test_a_work_folder_holding_a_link_is_refused(tmp_path, name):
    work = leave_work(tmp_path)
    (work / "frames").mkdir()
    target = tmp_path / "precious"
    target.write_text("precious")
    if name == "frames":
        (work / name).rmdir()
    (work / name).unlink(missing_ok=True)
    (work / name).symlink_to(target)
    with pytest.raises(
        LGFNError, match=f"{work / name} in its work folder is a symbolic link; .*never writes"
    ):
        prepare(tmp_path, done=1, resume=True)
    assert target.read_text() == "precious"


def test_a_file_in_the_place_of_the_work_folder_is_refused(tmp_path):
    work_folder(tmp_path / "out").write_text("in the way")
    with pytest.raises(LGFNError, match="is not a folder; lgfn upscale writes only into a folder it made"):
        prepare(tmp_path)


# ---------------------------------------------------------------------------------------------
# Finished work: resume, overwrite or refuse


def test_finished_work_is_resumed_with_the_same_job(tmp_path, caplog):
    work = leave_work(tmp_path)
    caplog.set_level("INFO")
    assert prepare(tmp_path, done=5, resume=True) == 5
    assert (work / "piece").read_text() == "finished"
    assert (work / LOCK_FILE).read_text() == str(os.getpid())
    assert "resuming" in caplog.text and "5 frame(s) already finished" in caplog.text
    assert prepare(tmp_path, done=5, resume=True, overwrite=True) == 5  # --resume wins over --overwrite


def test_finished_work_is_not_resumed_with_another_job(tmp_path):
    work = leave_work(tmp_path)
    other = {"model": "b", "fps": "25", "crf": 0}
    with pytest.raises(
        LGFNError, match=r"cannot resume .*out: the interrupted run in .* used other settings"
    ) as info:
        prepare(tmp_path, done=5, job=other, resume=True)
    # The message names each setting that changed, as lgfn.files.settings_changes words it.
    assert "(crf: None then, 0 now; model: 'a' then, 'b' now)" in str(info.value)
    assert "run it with the same options, or delete that folder" in str(info.value)
    assert (work / "piece").exists() and json.loads((work / JOB_FILE).read_text()) == JOB


@pytest.mark.parametrize("record", [None, "{half", "[1, 2]"])
def test_finished_work_without_a_readable_job_is_not_resumed(tmp_path, record):
    work = leave_work(tmp_path, job=None)
    if record is not None:
        (work / JOB_FILE).write_text(record)
    with pytest.raises(LGFNError, match="has no readable record of its settings; delete it to start over"):
        prepare(tmp_path, done=5, resume=True)
    assert (work / "piece").exists()


def test_finished_work_in_the_way_is_an_error_without_resume_or_overwrite(tmp_path):
    work = leave_work(tmp_path)
    with pytest.raises(
        LGFNError,
        match=r"an interrupted run left 5 finished frame\(s\) of .*out in .*; pass --resume .* --overwrite",
    ):
        prepare(tmp_path, done=5)
    assert (work / "piece").exists()


def test_overwrite_discards_finished_work(tmp_path, caplog):
    work = leave_work(tmp_path)
    assert prepare(tmp_path, done=5, job={"model": "b"}, overwrite=True) == 0
    assert "--overwrite: starting" in caplog.text and "discarding 5 finished frame(s)" in caplog.text
    assert sorted(os.listdir(work)) == [JOB_FILE, LOCK_FILE]  # started over, with the new job
    assert json.loads((work / JOB_FILE).read_text()) == {"model": "b"}


@pytest.mark.parametrize("resume", [False, True])
def test_a_work_folder_without_finished_work_starts_over(tmp_path, resume):
    work = leave_work(tmp_path, job={"model": "old"})
    assert prepare(tmp_path, done=0, resume=resume) == 0
    assert sorted(os.listdir(work)) == [JOB_FILE, LOCK_FILE]
    assert json.loads((work / JOB_FILE).read_text()) == JOB


# ---------------------------------------------------------------------------------------------
# The finished output


def test_an_existing_output_is_refused_unless_overwrite(tmp_path):
    refuse_existing_output(tmp_path / "new.mp4", overwrite=False)
    (tmp_path / "old.mp4").write_bytes(b"old")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")  # a dangling link is in the way too
    for name in ("old.mp4", "link"):
        with pytest.raises(LGFNError, match=f"output .*{name} already exists; pass --overwrite"):
            refuse_existing_output(tmp_path / name, overwrite=False)
        refuse_existing_output(tmp_path / name, overwrite=True)


def make(path: Path, kind: str, content: str) -> Path:
    """A file holding ``content``, or a folder holding such a file."""
    if kind == "file":
        path.write_text(content)
    else:
        path.mkdir()
        (path / "frame.png").write_text(content)
    return path


def content(path: Path) -> str:
    return path.read_text() if path.is_file() else (path / "frame.png").read_text()


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_move_into_place_where_nothing_is(tmp_path, kind):
    new = make(tmp_path / "new", kind, "new")
    move_into_place(new, tmp_path / "out", overwrite=False)
    assert sorted(os.listdir(tmp_path)) == ["out"] and content(tmp_path / "out") == "new"


@pytest.mark.parametrize(
    ("new_kind", "old_kind"), [("file", "file"), ("folder", "folder"), ("folder", "file")]
)
def test_move_into_place_over_an_output_only_with_overwrite(tmp_path, new_kind, old_kind):
    new, out = make(tmp_path / "new", new_kind, "new"), make(tmp_path / "out", old_kind, "old")
    with pytest.raises(LGFNError, match="output .*out appeared while writing; pass --overwrite"):
        move_into_place(new, out, overwrite=False)
    assert content(new) == "new" and content(out) == "old"

    move_into_place(new, out, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["out"]  # the old one deleted, nothing left aside
    assert content(out) == "new" and out.is_dir() == (new_kind == "folder")


def test_a_folder_that_cannot_take_the_place_puts_the_old_one_back(tmp_path, monkeypatch):
    new, out = make(tmp_path / "new", "folder", "new"), make(tmp_path / "out", "folder", "old")
    rename = os.rename

    def failing(source, target):
        if Path(source) == new:
            raise OSError("disk trouble")
        rename(source, target)

    monkeypatch.setattr(workfolder.os, "rename", failing)
    with pytest.raises(OSError, match="disk trouble"):
        move_into_place(new, out, overwrite=True)
    assert content(out) == "old" and content(new) == "new"
