"""The VapourSynth environment, the demo exports and the reference frames the tests here share.

The environment is a virtual environment of a Python >= 3.12 (VapourSynth's wheels need it),
``.venv-vapoursynth`` in the checkout (git ignores it), made with the one command of docs/vapoursynth.md,
``pip install --no-deps -r requirements-vapoursynth.txt``, and kept for later sessions while that
file is unchanged. The tests skip, saying so, only where no Python >= 3.12 is found; set
``LGFN_VS_PYTHON`` to choose one.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from lgfn import cli
from lgfn.checkpoint import DEFAULT_CHECKPOINT
from tests.helpers import REPO, shared_data_path

REQUIREMENTS = REPO / "requirements-vapoursynth.txt"
VENV = REPO / ".venv-vapoursynth"
STAMP = VENV / "lgfn-requirements.sha256"
JOBS_SCRIPT = Path(__file__).with_name("vs_jobs.py")
#: The real clip cut for the frame-by-frame checks: 9 frames, so that the first three, three in the
#: middle and the last three are all compared; a small crop keeps the CPU time to seconds.
CLIP, CROP = ("clips", "toflow_454x256", "GT"), (slice(100, 132), slice(200, 240))


def _python_312() -> str | None:
    """A Python >= 3.12 interpreter: ``LGFN_VS_PYTHON``, ``python3.1x`` on PATH, or pyenv's."""
    chosen = os.environ.get("LGFN_VS_PYTHON")
    candidates = [chosen] if chosen else []
    candidates += [shutil.which(f"python3.{minor}") for minor in (12, 13, 14)]
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{root}/versions/3.1[2-9]*/bin/python3"))
    for candidate in filter(None, candidates):
        check = [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"]
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:  # pyenv shims may fail
            return candidate
    return None


def _stamp(python: str) -> str:
    """What the environment was made from: the requirements, the Python, and the checkout's place (a
    virtual environment and an editable install hold absolute paths)."""
    version = subprocess.run([python, "-VV"], capture_output=True, text=True, check=True).stdout
    return hashlib.sha256(REQUIREMENTS.read_bytes() + f"{version}\n{REPO}".encode()).hexdigest()


@pytest.fixture(scope="session")
def vs_python() -> Path:
    """The VapourSynth environment's interpreter, the environment made first when it is missing or
    was made from another requirements file."""
    python = _python_312()
    if python is None:
        pytest.skip("no Python >= 3.12 here (VapourSynth R81's wheels need it); set LGFN_VS_PYTHON")
    stamp = _stamp(python)
    if not (STAMP.is_file() and STAMP.read_text() == stamp):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
        # The install command of docs/vapoursynth.md, as a reader runs it from the project's folder.
        install = [str(VENV / "bin" / "pip"), "install", "-q", "--no-deps", "-r", REQUIREMENTS.name]
        subprocess.run(install, cwd=REPO, check=True, timeout=900)
        STAMP.write_text(stamp)  # last: an interrupted build is made again next time
    return VENV / "bin" / "python"


@pytest.fixture(scope="session")
def demo_stacked(tmp_path_factory) -> dict[str, Path]:
    """The demo checkpoint exported with ``--layout stacked`` in both deformable forms, side by side
    in two processes: ``{form: path}``."""
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"the demo checkpoint {DEFAULT_CHECKPOINT} is missing")
    folder = tmp_path_factory.mktemp("vs_onnx")
    paths = {form: folder / f"demo_{form}.onnx" for form in ("deform_conv", "grid_sample")}
    commands = [[sys.executable, "-m", "lgfn", "export", str(DEFAULT_CHECKPOINT), "-o", str(path),
                 "--layout", "stacked", "--dcn", form] for form, path in paths.items()]  # fmt: skip
    processes = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in commands]
    try:
        outputs = [process.communicate(timeout=600)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output.decode()[-2000:]
    return paths


def write_rgb_video(path: Path, frames: list[np.ndarray], fps: Fraction) -> None:
    """Frames as lossless RGB video (FFV1 ``bgr0`` in Matroska), which a source filter reads as RGB24."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "bgr0"
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(stream.encode(picture.reformat(format="bgr0")))
        container.mux(stream.encode(None))


@dataclass(frozen=True)
class Reference:
    """A real clip as a lossless RGB video, and ``lgfn upscale --onnx``'s PNG frames of it."""

    video: Path
    frames: np.ndarray  # (t, h, w, 3) uint8, the input
    upscaled: np.ndarray  # (t, s*h, s*w, 3) uint8, lgfn upscale's output


@pytest.fixture(scope="session")
def reference(tmp_path_factory, demo_stacked) -> Reference:
    """Crops of a real clip from ../shared/data, and ``lgfn upscale`` run on them with the
    DeformConv file (fp32, ONNX Runtime) into PNG frames."""
    folder = tmp_path_factory.mktemp("vs_reference")
    paths = sorted(shared_data_path(*CLIP).glob("*.png"))
    frames = np.stack([np.asarray(Image.open(p).convert("RGB"))[CROP] for p in paths])
    video = folder / "crop.mkv"
    write_rgb_video(video, list(frames), Fraction(25))
    out = folder / "upscaled"
    argv = [
        "upscale",
        str(video),
        "-o",
        str(out),
        "--onnx",
        str(demo_stacked["deform_conv"]),
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    upscaled = np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))])
    return Reference(video, frames, upscaled)


@pytest.fixture(scope="session")
def vs_run(vs_python, tmp_path_factory):
    """Run ``vs_jobs.py`` in the VapourSynth environment: ``vs_run(jobs, errors)`` gives its results,
    each job's rendered frames loaded as ``data`` (raw bytes, shaped by the caller)."""

    def run(jobs: dict, errors: dict | None = None, windows: dict | None = None) -> dict:
        tmp_path = tmp_path_factory.mktemp("vs_jobs")
        for name, job in jobs.items():
            job["out"] = str(tmp_path / f"{name}.raw")
        spec, results = tmp_path / "jobs.json", tmp_path / "results.json"
        spec.write_text(
            json.dumps({"jobs": jobs, "errors": errors or {}, **({"windows": windows} if windows else {})})
        )
        done = subprocess.run([str(vs_python), str(JOBS_SCRIPT), str(spec), str(results)],
                              capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        record = json.loads(results.read_text())
        for name, job in record["jobs"].items():
            job["data"] = Path(jobs[name]["out"]).read_bytes()
        return record

    return run
