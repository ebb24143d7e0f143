"""A finished output records the job that made it: another job's output, or another file, is told apart."""

from __future__ import annotations

import pytest

from lgfn.errors import LGFNError
from lgfn.media import open_sink
from lgfn.media.provenance import check_finished_output, job_digest, recorded_digest
from lgfn.media.sinks import output_record
from tests.helpers import make_frames

JOB = {"input": {"path": "/clips/a.mp4", "bytes": 10}, "method": "bicubic"}


def _finish(path, job=JOB, **options) -> dict:
    with open_sink(path, fps=25, job=job, **options) as sink:
        for frame in make_frames(2, 16, 12):
            sink.write(frame)
    return output_record(path, 25, job=job, **options)


@pytest.mark.parametrize("name", ["out", "out.mp4", "out.mkv", "out.mov", "out.avi", "out.m4v"])
def test_a_finished_output_records_its_job_and_only_that_job_matches(tmp_path, name):
    record = _finish(tmp_path / name)
    assert recorded_digest(tmp_path / name) == job_digest(record)
    check_finished_output(tmp_path / name, record)  # the same job: taken as finished
    other = output_record(tmp_path / name, 25, job={**JOB, "input": {"path": "/clips/b.mp4", "bytes": 10}})
    with pytest.raises(LGFNError, match="exists but was made from another input or with other settings"):
        check_finished_output(tmp_path / name, other)
    with pytest.raises(LGFNError, match="with other settings"):
        check_finished_output(tmp_path / name, output_record(tmp_path / name, 30, job=JOB))


def test_a_file_not_made_by_a_sink_is_not_taken_as_finished(tmp_path):
    (tmp_path / "out.mp4").write_text("a text file named like a video")
    (tmp_path / "frames").mkdir()
    for path in (tmp_path / "out.mp4", tmp_path / "frames"):
        assert recorded_digest(path) is None
        with pytest.raises(LGFNError, match="holds no record of an lgfn upscale run .*pass --overwrite"):
            check_finished_output(path, output_record(path, 25, job=JOB))


def test_the_digest_names_no_path():
    assert "/clips" not in job_digest(JOB) and job_digest(JOB) == job_digest(dict(reversed(JOB.items())))
