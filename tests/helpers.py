"""Helpers shared by the test modules: paths, the tiny LGFN, the optional real data, and makers of
small clips, videos and training configs. Test modules import from here, never from each other."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from lgfn import cli
from lgfn.checkpoint import load_checkpoint
from lgfn.config import ExperimentConfig, config_from_dict
from lgfn.data.io import write_image

REPO = Path(__file__).resolve().parents[1]
#: Where the real-data tests find Vid4, Vimeo-90K and the clips unless ``$LGFN_DATA`` says otherwise:
#: the project machine's copies beside the checkout (layout: ../shared/data/README.md).
DEFAULT_DATA = REPO.parent / "shared" / "data"
#: Where the tests find the reference files (the paper's tables) unless ``$LGFN_REFERENCE`` says otherwise.
DEFAULT_REFERENCE = REPO.parent / "shared" / "reference"


#: A small LGFN that keeps every component (two alignment blocks so DMDCU has 4 and 2 branches).
TINY_MODEL = dict(
    num_features=16,
    num_extract_blocks=1,
    num_align_blocks=2,
    num_local_blocks=1,
    num_global_blocks=1,
    num_rcab=1,
    reduction=4,
    deformable_groups=2,
)


def real_data_root() -> Path:
    """The folder of the real data: ``$LGFN_DATA`` when set (a user's own copies of Vid4/, Vimeo90K/,
    clips/), else :data:`DEFAULT_DATA`. Read at each call, so a test may set the variable."""
    return Path(os.environ.get("LGFN_DATA") or DEFAULT_DATA).expanduser()


def reference_root() -> Path:
    """The folder of the reference files: ``$LGFN_REFERENCE`` when set, else :data:`DEFAULT_REFERENCE`."""
    return Path(os.environ.get("LGFN_REFERENCE") or DEFAULT_REFERENCE).expanduser()


def shared_data_path(*parts: str) -> Path:
    """A path inside the real data (:func:`real_data_root`), or skip the test with the reason when it is
    absent."""
    path = real_data_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real data not available: {path} is missing (set LGFN_DATA to your copies; "
            "layout: ../shared/data/README.md)"
        )
    return path


def reference_path(*parts: str) -> Path:
    """A file inside the reference folder (:func:`reference_root`), or skip the test when it is absent."""
    path = reference_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference not available: {path} is missing (set LGFN_REFERENCE to the folder)")
    return path


NTSC_FILM = Fraction(24000, 1001)


def make_frames(count: int, width: int = 32, height: int = 24, seed: int = 0) -> list[np.ndarray]:
    """Smooth frames (H.264 keeps them within a few levels) whose mean brightness rises with the index."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        base = 40 + 6 * i + rng.integers(0, 3)
        frame = np.stack([base + x, base + y, np.full_like(x, 200 - 4 * i)], axis=-1)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def write_video_pyav(path: Path, frames: list[np.ndarray], fps: Fraction = NTSC_FILM) -> None:
    """Encode frames with PyAV directly (independently of FrameSink): H.264, lossless quantiser."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qp": "0"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def write_folder(folder: Path, frames: list[np.ndarray]) -> None:
    for i, frame in enumerate(frames):
        write_image(folder / f"{i:08d}.png", frame)


def close_to(a: np.ndarray, b: np.ndarray, levels: float) -> bool:
    """Mean absolute difference within ``levels`` grey levels (H.264 in yuv420p is not lossless)."""
    return a.shape == b.shape and float(np.abs(a.astype(np.int16) - b).mean()) <= levels


AUDIO_RATE = 16000


BEEP_AT = 1.0  # seconds, on the input file's clock


VIDEO_FPS = 10


def write_video_with_audio(
    path: Path, codec: str, frames: int = 20, video_start: int = 5, subtitle: bool = False
) -> None:
    """A clip whose sound is silent but for a 50 ms beep at :data:`BEEP_AT` s, and whose picture flashes
    white on the frame shown at that instant; the video begins at ``video_start`` / 10 s, the audio at 0.
    With ``subtitle`` (Matroska only), a SubRip cue "beep" shows from that instant for 0.4 s."""
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=VIDEO_FPS)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        audio = container.add_stream(codec, rate=AUDIO_RATE)
        audio.layout = "mono"
        if subtitle:
            cue = av.Packet(b"beep")
            cue.stream = container.add_mux_stream("subrip")
            cue.time_base, cue.pts, cue.dts, cue.duration = Fraction(1, 1000), 1000, 1000, 400
            container.mux(cue)
        for i in range(frames):
            pts = video_start + i
            level = 255 if pts == round(BEEP_AT * VIDEO_FPS) else 40
            picture = av.VideoFrame.from_ndarray(np.full((24, 32, 3), level, np.uint8), format="rgb24")
            picture.pts, picture.time_base = pts, Fraction(1, VIDEO_FPS)
            container.mux(video.encode(picture))
        seconds = (video_start + frames) / VIDEO_FPS
        samples = np.zeros(round(seconds * AUDIO_RATE), np.float32)
        beep = slice(round(BEEP_AT * AUDIO_RATE), round((BEEP_AT + 0.05) * AUDIO_RATE))
        samples[beep] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(beep.stop - beep.start) / AUDIO_RATE)
        for start in range(0, len(samples), 1024):
            chunk = (samples[None, start : start + 1024] * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
            container.mux(audio.encode(frame))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))


def read_audio(path: Path) -> tuple[str, float, np.ndarray, int]:
    """The first audio stream of a file: codec name, time of its first sample (s), its mono samples and
    their rate (Opus decodes at 48 kHz whatever rate it was given)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks, first = [], None
        for frame in container.decode(stream):
            if first is None:
                first = float(frame.pts * frame.time_base)
            chunk = frame.to_ndarray().astype(np.float32)
            if frame.format.name.startswith("s16"):
                chunk /= 32767
            chunks.append(chunk.reshape(-1) if frame.format.is_planar else chunk[0])
        return stream.codec_context.name, first, np.concatenate(chunks), stream.codec_context.sample_rate


def beep_time(path: Path) -> float:
    """When the beep begins in a file, in seconds of its clock."""
    _, first, samples, rate = read_audio(path)
    return first + np.flatnonzero(np.abs(samples) > 0.1)[0] / rate


def read_cues(path: Path) -> list[tuple[float, float, bytes]]:
    """The subtitle cues of a file: (start s, duration s, text)."""
    with av.open(str(path)) as container:
        if not container.streams.subtitles:
            return []
        return [
            (float(p.pts * p.time_base), float(p.duration * p.time_base), bytes(p))
            for p in container.demux(container.streams.subtitles[0])
            if p.pts is not None
        ]


def write_clips(root: Path, clips: int = 2, frames: int = 4, size: tuple[int, int] = (32, 32)) -> Path:
    """Smooth random clips (a little motion between frames) as PNG frame folders."""
    rng = np.random.default_rng(0)
    h, w = size
    for c in range(clips):
        base = rng.random((h // 4 + 2, w // 4 + 2, 3))
        big = np.kron(base, np.ones((4, 4, 1)))
        for f in range(frames):
            frame = np.roll(big, shift=f, axis=1)[:h, :w]
            write_image(root / f"clip{c}" / f"{f:04d}.png", (frame * 255).round().astype(np.uint8))
    return root


def tiny_config(data_root: Path, **sections: dict) -> ExperimentConfig:
    """A tiny 3-frame LGFN on frame folders: 8 samples, global batch 4, 2 iterations per epoch."""
    raw = {
        "model": dict(TINY_MODEL, scale=4, num_frames=3),
        "data": {"type": "frame_folders", "root": str(data_root), "lq_patch": 6, "num_workers": 0},
        "train": {
            "device": "cpu",
            "batch_size": 4,
            "epochs": 3,
            "lr": 1e-3,
            "lr_milestones": [1, 2],
            "save_every": 1,
            "num_threads": 1,  # tiny tensors; several threads crawl on a CPU shared with other jobs
        },
        "log": {"every": 1, "progress": False, "tensorboard": False},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config_from_dict(raw)


def weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a project checkpoint."""
    return load_checkpoint(path)["state_dict"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Two state dicts hold the same keys and bit-identical tensors."""
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def run_cli(*argv: str | Path) -> int:
    return cli.main(["upscale", *map(str, argv), "--no-progress"])


def error_line(capsys) -> str:
    """The one ``error:`` line the CLI printed; fails if there is a traceback or more than one."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


def write_png_claiming(path: Path, width: int, height: int) -> None:
    """A small PNG whose header (IHDR, with a valid checksum) claims ``width x height`` pixels."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path.write_bytes(bytes(data))


def write_video_timed(path: Path, frames: list[np.ndarray], times_ms: list[int], rate: int = 25) -> None:
    """H.264 (lossless quantiser) with each frame at its own time, in milliseconds: a variable frame
    rate when the steps differ (``rate`` is only what the stream states)."""
    time_base = Fraction(1, 1000)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"qp": "0"}
        stream.time_base = stream.codec_context.time_base = time_base
        for frame, time in zip(frames, times_ms, strict=True):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts, picture.time_base = time, time_base
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))


def interrupt_after(monkeypatch, cls, frames: int) -> None:
    """Make ``cls.stream`` raise KeyboardInterrupt, as Ctrl-C would, after yielding ``frames`` frames."""
    real_stream = cls.stream

    def interrupted(self, source, start=0):
        for index, sr in enumerate(real_stream(self, source, start=start)):
            if index == frames:
                raise KeyboardInterrupt
            yield sr

    monkeypatch.setattr(cls, "stream", interrupted)


def wait_until(done: Callable[[], bool], process: subprocess.Popen, what: str, timeout: float = 120) -> None:
    """Poll ``done`` until it holds while ``process`` keeps running (a command under test that must
    be interrupted part-way); fail if the process ends first or ``what`` has not happened in time."""
    deadline = time.monotonic() + timeout
    while not done():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.02)


def free_port() -> int:
    """A TCP port of this machine that nothing listens on (for a torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(processes: int) -> tuple[list[str], dict[str, str]]:
    """The launcher words and environment that start ``processes`` Gloo processes of this machine
    (one thread each), to which a test adds its command (``-m lgfn upscale ...``, a script)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    env.pop("WORLD_SIZE", None)
    launcher = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={processes}",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
    ]  # fmt: skip
    return launcher, env


def stop_with_sigterm(
    command: list[str], done: Callable[[], bool], what: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run ``command`` (one thread unless ``env`` says otherwise), send it SIGTERM once ``done`` holds
    while it runs (a command under test stopped part-way, as a scheduler stops it), and return its exit
    status and its standard error."""
    env = dict(os.environ, OMP_NUM_THREADS="1") if env is None else env
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(done, process, what)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, err


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch on ``count`` threads inside (an in-process run computing as one-thread subprocesses do)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
