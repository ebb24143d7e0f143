"""Run inside the VapourSynth environment (Python >= 3.12, no torch, no numpy): the jobs that the
tests in this folder describe in a JSON file, each an :func:`lgfn.vapoursynth.upscale` call.

Usage: ``python vs_jobs.py JOBS.json RESULTS.json``. A job renders the frames it names into a raw
file (the planes of each frame one after the other, packed rows) and records the clip's
format, size, length, rate and frame properties; an error case records the exception's type and
message instead. Started by the tests as a subprocess; never imported by them.
"""

from __future__ import annotations

import json
import sys
import time

import vapoursynth as vs

from lgfn.vapoursynth import ORT, OV, upscale, window_clips

core = vs.core


def source(spec: dict) -> vs.VideoNode:
    """The clip a job starts from: a video through bs.VideoSource (no index cache written), or
    std.BlankClip; then optionally trimmed, cropped and converted (``pre``: resize.Bicubic's
    arguments)."""
    if spec["kind"] == "bs":
        clip = core.bs.VideoSource(spec["path"], cachemode=0)
    else:
        clip = core.std.BlankClip(**named_formats(spec["args"]))
    if "trim" in spec:
        clip = clip[spec["trim"][0] : spec["trim"][1]]
    if "crop" in spec:
        clip = core.std.CropAbs(clip, **spec["crop"])
    if "pre" in spec:
        clip = core.resize.Bicubic(clip, **named_formats(spec["pre"]))
    return clip


def named_formats(args: dict) -> dict:
    """A filter's arguments, a format given by its name (``"RGBS"``) made the format."""
    return {key: getattr(vs, value) if key == "format" else value for key, value in args.items()}


def backend(spec: dict | str | None):
    if spec is None or isinstance(spec, str):
        return spec or "ort-cpu"
    kind = spec.pop("kind")
    return {"ort": ORT, "ov": OV}[kind](**spec)


def props(frame: vs.VideoFrame) -> dict:
    """A frame's properties as JSON values (enumerations as their numbers)."""
    return {key: int(v) if isinstance(v, int) else v if isinstance(v, float | str) else str(v)
            for key, v in frame.props.items()}  # fmt: skip


def run_job(job: dict) -> dict:
    clip = source(job["source"])
    if job.get("upscale", True):
        clip = upscale(clip, job["model"], backend(job.get("backend")), **job.get("options", {}))
    upscaled = clip
    if "post" in job:
        clip = core.resize.Bicubic(clip, **named_formats(job["post"]))
    record = {"sr_format": upscaled.format.name, "format": clip.format.name, "width": clip.width,
              "height": clip.height, "num_frames": clip.num_frames,
              "fps": [clip.fps.numerator, clip.fps.denominator]}  # fmt: skip
    frames = range(clip.num_frames) if job.get("render", "all") == "all" else job["render"]
    started = time.perf_counter()
    with open(job["out"], "wb") as out:
        for n in frames:
            frame = clip.get_frame(n)
            for plane in range(frame.format.num_planes):
                out.write(memoryview(frame[plane]).tobytes())  # rows packed, without the stride's padding
            record.setdefault("props", {})[n] = props(frame)
            if "post" in job:  # the filter's own output, before the conversion
                record.setdefault("sr_props", {})[n] = props(upscaled.get_frame(n))
    record["seconds_per_frame"] = (time.perf_counter() - started) / max(len(frames), 1)
    return record


def run_error(case: dict) -> dict:
    try:
        clip = upscale(
            source(case["source"]), case["model"], backend(case.get("backend")), **case.get("options", {})
        )
        clip.get_frame(0)
    except Exception as exc:  # the test checks which type and message
        return {"type": f"{type(exc).__module__}.{type(exc).__name__}", "message": str(exc)}
    return {"type": None, "message": ""}


def windows(lengths: list[int], num_frames: list[int]) -> dict:
    """For each clip length and window length, the source frame of every window copy's every frame,
    read from a property that numbers the clip's frames: ``{"L,t": [[copy j's frame n for j] for n]}``."""
    found = {}
    for length in lengths:
        blank = core.std.BlankClip(width=8, height=8, length=length)
        numbered = core.std.FrameEval(blank, lambda n, c=blank: core.std.SetFrameProps(c, source=n))
        for t in num_frames:
            copies = window_clips(numbered, t)
            found[f"{length},{t}"] = [[c.get_frame(n).props["source"] for c in copies] for n in range(length)]
    return found


def main() -> None:
    jobs = json.load(open(sys.argv[1]))
    results = {"torch_imported": "torch" in sys.modules, "vapoursynth": str(vs.__version__)}
    results["jobs"] = {name: run_job(job) for name, job in jobs.get("jobs", {}).items()}
    results["errors"] = {name: run_error(case) for name, case in jobs.get("errors", {}).items()}
    if "windows" in jobs:
        results["windows"] = windows(**jobs["windows"])
    results["torch_imported"] |= "torch" in sys.modules
    json.dump(results, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
