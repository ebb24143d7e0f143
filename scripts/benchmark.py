"""Inference speed of LGFN: the plain forward against each optimisation of VideoSuperResolver.

For a stream of LR frames it prints, per code path: output frames per second, achieved GFLOP/s
(from the MAC count of ``scripts/model_stats.py``), peak memory and the largest difference from the
plain fp32 forward's output. Each path runs in a fresh process so that peak memory is its own.

    python scripts/benchmark.py                                  # 144x180 LR (Vid4 size), CPU
    python scripts/benchmark.py --device cuda --lr-size 144x180 --frames 32 --batch 4
    python scripts/benchmark.py --paths plain default bf16 --set num_rcab=5

Paths:
    plain       model(window) for every window, fp32, one window per pass (the reference)
    reuse       + each frame's features extracted once and shared by its windows
    default     + channels-last memory format and ``--batch`` windows per pass (what test.py uses,
                and ``lgfn upscale`` where bf16 is not native)
    bf16        default with bf16 autocast, deformable sampling kept in fp32 (``lgfn upscale``'s
                ``--precision auto`` on CPUs with native bf16 and on CUDA GPUs from Ampere on)
    fp16        default with fp16 autocast (CUDA only)
    compile     default with torch.compile
    onnx        the model exported by ``lgfn export`` (ONNX DeformConv) and run by ONNX Runtime on the
                CPU (CUDA execution provider with --device cuda), whole windows, as ``--onnx`` runs it
    onnx_grid   the same with the deformable convolution exported as GridSample (``--dcn grid_sample``)

The ONNX paths need the ONNX extra (``pip install -e '.[onnx]'``); they also print the export's time
and file size (not part of frames/s). Their session uses ``--threads`` (else torch's count) threads.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lgfn.cli.console import parse_size, run_main
from lgfn.cli.steps import step
from lgfn.config import parse_model_overrides
from lgfn.devices import device_peak_mib, resolve_device
from lgfn.inference import VideoSuperResolver
from lgfn.models import LGFN, LGFNConfig
from lgfn.stats import count_macs

PATHS = {
    "plain": dict(reuse_features=False, channels_last=False, batch=1),
    "reuse": dict(reuse_features=True, channels_last=False, batch=1),
    "default": dict(reuse_features=True, channels_last=True),
    "bf16": dict(reuse_features=True, channels_last=True, precision="bf16"),
    "fp16": dict(reuse_features=True, channels_last=True, precision="fp16"),
    "compile": dict(reuse_features=True, channels_last=True, compile=True),
}
#: ONNX Runtime paths: name -> the deformable convolution's form in the exported file.
ONNX_PATHS = {"onnx": "deform_conv", "onnx_grid": "grid_sample"}


def make_frames(n: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    """A smooth random pattern drifting one pixel a frame: content like a slow pan."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (h // 4 + 2, w // 4 + 2 + n, 3)).astype(np.float32)
    big = np.kron(coarse, np.ones((4, 4, 1), np.float32))
    return [np.ascontiguousarray(big[:h, i : i + w]).astype(np.uint8) for i in range(n)]


def build_model(args: argparse.Namespace) -> LGFN:
    if args.ckpt:
        from lgfn import load_model

        return load_model(args.ckpt)
    torch.manual_seed(0)
    model = LGFN.from_config(LGFNConfig(**args.overrides))
    # Non-zero offsets, as in a trained model, so that the deformable sampling does real work.
    for dcn in model.cd_align.dc:
        torch.nn.init.normal_(dcn.conv_offset_mask.weight, std=0.01)
    return model.eval()


def run_one(args: argparse.Namespace) -> dict:
    """Time one path in this process and save its outputs for the comparison."""
    torch.set_num_threads(args.threads or torch.get_num_threads())
    device = resolve_device(args.device)
    model = build_model(args)
    extra: dict = {}
    if args.only in ONNX_PATHS:
        resolver, extra = onnx_resolver(model, ONNX_PATHS[args.only], args.save_to + ".onnx", device, args)
    else:
        options = dict(PATHS[args.only])
        options.setdefault("batch", args.batch)
        resolver = VideoSuperResolver(model, device=device, **options)
    h, w = args.lr_size
    frames = make_frames(args.frames, h, w)
    # Warm-up: one window of the same size (allocations, oneDNN/cuDNN plans, compilation).
    t = model.num_frames
    list(resolver.upscale_clip(make_frames(t, h, w, seed=1), indices=[t // 2], as_float=True))
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    outputs = [sr.cpu() for _, sr in resolver.upscale_clip(frames, as_float=True)]
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    torch.save(torch.stack(outputs), args.save_to)
    peak = device_peak_mib(device)
    return {"path": args.only, "seconds": seconds, "frames": len(outputs), "peak_mib": peak, **extra}


def onnx_resolver(
    model: LGFN, form: str, path: str, device: torch.device, args: argparse.Namespace
) -> tuple[VideoSuperResolver, dict]:
    """Export ``model`` to ``path`` and wrap it as ``--onnx`` does; returns it and the export's cost."""
    from lgfn.export import OnnxNetwork, export_onnx

    start = time.perf_counter()
    export_onnx(model, path, dcn=form)
    export_s = time.perf_counter() - start
    network = OnnxNetwork(path, device, threads=args.threads or None)
    resolver = VideoSuperResolver(network, batch=args.batch, reuse_features=False, channels_last=False)
    return resolver, {"export_s": export_s, "onnx_mib": Path(path).stat().st_size / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lr-size", type=parse_size, default=(144, 180), help="LR HxW (default 144x180)")
    parser.add_argument("--frames", type=int, default=9, help="output frames in the stream (default 9)")
    parser.add_argument("--batch", type=int, default=2, help="windows per pass of the batched paths")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument(
        "--paths", nargs="+", choices=[*PATHS, *ONNX_PATHS], help="default: all that fit the device"
    )
    parser.add_argument("--ckpt", help="benchmark this checkpoint instead of a random default model")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="LGFNConfig fields")
    parser.add_argument("--only", choices=[*PATHS, *ONNX_PATHS], help=argparse.SUPPRESS)
    parser.add_argument("--save-to", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.overrides = parse_model_overrides(args.set)

    if args.only:  # child process
        print(json.dumps(run_one(args)))
        return 0

    device = resolve_device(args.device)
    paths = args.paths or [p for p in PATHS if device.type == "cuda" or p != "fp16"]
    if not args.paths and importlib.util.find_spec("onnxruntime") is not None:
        paths += list(ONNX_PATHS)
    if "plain" not in paths:
        paths = ["plain", *paths]
    model = build_model(args)
    h, w = args.lr_size
    with step(f"counting multiply-accumulates: one forward pass of {model.num_frames} frames of {w}x{h}"):
        macs = count_macs(model.cpu(), h, w)
    flop_per_frame = 2 * (macs.conv_total + macs.deform + macs.sampling)
    print(
        f"LR {w}x{h} -> {w * model.scale}x{h * model.scale}, {args.frames} frames, {model.num_frames}-frame "
        f"windows, {flop_per_frame / 1e12:.3f} TFLOP/frame, device {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    header = ("path", "frames/s", "s/frame", "GFLOP/s", "peak MiB", "vs plain", "max |diff|")
    print(f"{header[0]:<10}" + "".join(f"{h:>10}" for h in header[1:5]) + f"{header[5]:>9}{header[6]:>12}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            out_file = Path(tmp) / f"{path}.pt"
            child = [sys.executable, __file__, "--only", path, "--save-to", str(out_file)]
            child += argv if argv is not None else sys.argv[1:]
            with step(f"timing {path} ({args.frames} frames, in a fresh process)"):
                proc = subprocess.run(child, capture_output=True, text=True)
            if proc.returncode != 0:
                reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode
                print(f"{path:<10} failed: {reason}")
                continue
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            output = torch.load(out_file, weights_only=True)
            reference = results["plain"]["output"] if "plain" in results else output
            result["output"] = output
            results[path] = result
            fps = result["frames"] / result["seconds"]
            speedup = fps / (results["plain"]["frames"] / results["plain"]["seconds"])
            diff = (output - reference).abs().max().item()
            print(
                f"{path:<10}{fps:>10.3f}{1 / fps:>10.2f}{fps * flop_per_frame / 1e9:>10.1f}"
                f"{result['peak_mib']:>10.0f}{speedup:>8.2f}x{diff:>12.2e}"
            )
            if "export_s" in result:
                print(f"{'':<10}exported in {result['export_s']:.1f} s, {result['onnx_mib']:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
