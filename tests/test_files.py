"""Files that survive a crash: atomic replacement with ordinary permissions, synced JSON Lines."""

from __future__ import annotations

import json
import os

import pytest

from lgfn.files import (
    append_jsonl,
    apply_umask,
    atomic_write,
    atomic_write_text,
    lies_within,
    settings_changes,
    write_jsonl,
)


@pytest.mark.parametrize(("kind", "mode"), [("file", 0o666), ("folder", 0o777)])
def test_apply_umask_gives_the_permissions_of_a_new_file(tmp_path, kind, mode):
    made = tmp_path / "made"
    made.mkdir() if kind == "folder" else made.write_text("x")
    os.chmod(made, 0o700)
    umask = os.umask(0o027)
    try:
        apply_umask(made, mode)
    finally:
        os.umask(umask)
    assert made.stat().st_mode & 0o777 == mode & ~0o027


def test_atomic_write_gives_the_permissions_open_would(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "sub" / "a.json", "{}")
    finally:
        os.umask(umask)
    assert (tmp_path / "sub" / "a.json").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")

    def broken(temporary):
        temporary.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_the_writer_sees_the_final_suffix(tmp_path):
    seen = []
    atomic_write(tmp_path / "frame.png", lambda temporary: (seen.append(temporary.suffix), temporary.touch()))
    assert seen == [".png"]


def test_json_lines_append_and_rewrite(tmp_path):
    path = tmp_path / "log.jsonl"
    append_jsonl(path, {"a": 1})
    append_jsonl(path, [2])
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}, [2]]
    write_jsonl(path, [{"b": 3}])
    assert path.read_text() == '{"b": 3}\n'


def test_settings_changes_names_each_difference():
    assert settings_changes({"a": 1, "b": 2}, {"a": 1, "b": 2}) == ""
    assert settings_changes({"a": 1, "b": 2}, {"a": 3, "c": 4}) == (
        "a: 1 then, 3 now; b: 2 then, None now; c: None then, 4 now"
    )


def test_lies_within_follows_links_and_counts_the_folder_itself(tmp_path):
    (tmp_path / "data" / "clip").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "data")
    assert lies_within(tmp_path / "data", tmp_path / "data")
    assert lies_within(tmp_path / "link" / "clip", tmp_path / "data")
    assert not lies_within(tmp_path / "data", tmp_path / "data" / "clip")
    assert not lies_within(tmp_path / "database", tmp_path / "data")  # a name prefix is not inside
