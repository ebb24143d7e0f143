"""Experiment configs: YAML sections into checked dataclasses, --set overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lgfn.config import (
    ExperimentConfig,
    config_from_dict,
    load_config,
    parse_model_overrides,
    parse_override,
    save_config,
)
from lgfn.errors import ConfigError
from lgfn.models import LGFNConfig
from lgfn.training.trainer import backend_hint

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_empty_file_gives_the_paper_recipe(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.name == "exp"
    assert config.model.architecture() == LGFNConfig() and config.model.dcn_backend == "torchvision"
    assert config.train.lr == 1e-4
    assert config.train.betas == [0.9, 0.999]
    assert config.train.eps == 1e-8
    assert config.train.weight_decay == 0.0
    assert config.train.lr_milestones == [50, 70, 90, 95]
    assert config.train.lr_gamma == 0.5
    assert config.train.batch_size == 8
    assert config.data.lq_patch == 48
    assert config.train.loss == "l1"


def test_values_and_model_section_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "model:\n  scale: 2\n  num_features: 16\ndata:\n  type: frame_folders\n  root: clips\n"
        "train:\n  lr: 1e-3\n  lr_milestones: [3, 4]\n",
    )
    config = load_config(path)
    assert config.model.scale == 2 and config.model.num_features == 16
    assert config.model.num_frames == 7  # untouched keys keep their defaults
    assert config.data.type == "frame_folders" and config.data.root == "clips"
    assert config.train.lr == pytest.approx(1e-3)  # YAML 1.1 reads 1e-3 as a string
    assert config.train.lr_milestones == [3, 4]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("train:\n  learning_rate: 0.1\n", "train.learning_rate"),
        ("model:\n  features: 16\n", "model.features"),
        ("optimiser:\n  lr: 0.1\n", "'optimiser'"),
    ],
)
def test_unknown_keys_are_errors_naming_key_and_file(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert named in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("train:\n  epochs: ten\n", "train.epochs"),
        ("train:\n  epochs: 1.5\n", "train.epochs"),
        ("train:\n  lr: fast\n", "train.lr"),
        ("data:\n  augment: 1\n", "data.augment"),
        ("train:\n  betas: 0.9\n", "train.betas"),
        ("train:\n  lr_milestones: [1, two]\n", "train.lr_milestones[1]"),
        ("train:\n  precision: fp8\n", "train.precision"),
        ("train:\n  batch_size: 0\n", "train.batch_size"),
        ("model:\n  num_frames: 4\n", "num_frames"),
        ("model:\n  scale: '4'\n", "model.scale"),
    ],
)
def test_wrong_types_and_values_are_errors(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text))


def test_overrides_replace_and_add_values(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 1.0e-4\n  epochs: 100\n")
    config = load_config(
        path, ["train.lr=2e-4", "train.lr_milestones=[10, 20]", "data.augment=false", "model.num_features=8"]
    )
    assert config.train.lr == pytest.approx(2e-4)
    assert config.train.epochs == 100
    assert config.train.lr_milestones == [10, 20]
    assert config.data.augment is False
    assert config.model.num_features == 8


@pytest.mark.parametrize("override", ["train.lr", "lr=1", "train.=1", ".lr=1", "train.lr.x=1"])
def test_malformed_overrides_are_errors(override: str) -> None:
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override(override)


def test_override_of_unknown_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train.lrr"):
        load_config(write(tmp_path, ""), ["train.lrr=1"])


def test_override_of_unknown_section_is_an_error_not_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 2.0e-3\n")
    with pytest.raises(
        ConfigError, match="override 'trian.lr=5': unknown section 'trian'; expected one of model"
    ):
        load_config(path, ["trian.lr=5"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "train:\n  lr: 1\nval:\n  every: 2\ntrain:\n  lr: 2\n",
            "line 5: section train is written twice (first on line 1)",
        ),
        (
            "train:\n  lr: 1\n  epochs: 3\n  lr: 2\n",
            "line 4: key train.lr is written twice (first on line 2)",
        ),
    ],
)
def test_a_section_or_key_written_twice_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {message}; keep one"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr=.inf", "train.lr = inf: expected a finite number"),
        ("train.lr=.nan", "train.lr = nan: expected a finite number"),
        ("train.lr=nan", "train.lr = 'nan': expected a finite number"),
        ("train.grad_clip=.nan", "train.grad_clip = nan: expected a finite number"),
        ("train.betas=[0.9, .nan]", "train.betas[1] = nan: expected a finite number"),
        ("train.betas=[0.9, 1.5]", "train.betas must be two numbers in [0, 1), got [0.9, 1.5]"),
        ("train.lr=0", "train.lr = 0.0 must be > 0.0"),
        ("model.scale=0", "model.scale = 0 must be >= 2"),
        ("model.scale=5", "model.scale must be 3 or a power of two >= 2, got 5"),
        ("model.num_frames=4", "model.num_frames must be odd and >= 3, got 4"),
        ("model.num_features=0", "model.num_features = 0 must be >= 2"),
        ("model.deformable_groups=0", "model.deformable_groups = 0 must be >= 1"),
        ("model.reduction=0", "model.reduction = 0 must be >= 1"),
        ("model.num_rcab=-1", "model.num_rcab must be >= 0, got -1"),
        ("train.lr=1" + "0" * 399, "train.lr = 100000000000... (400 digits): expected a finite number"),
        ("train.seed=-1", "train.seed = -1 must be >= 0"),
        (f"train.seed={2**64}", f"train.seed = {2**64}: expected an integer of at most 64 bits"),
        (f"train.iterations={2**63}", f"train.iterations = {2**63}: expected an integer of at most 64 bits"),
        ("train.lr_gamma=0", "train.lr_gamma = 0.0 must be > 0.0"),
        (
            "train.lr_milestones=[-1]",
            "train.lr_milestones must be epochs >= 1 (after which the rate drops), got [-1]",
        ),
        (
            "train.lr_milestones=[0, 5]",
            "train.lr_milestones must be epochs >= 1 (after which the rate drops), got [0, 5]",
        ),
        ("train.lr_milestones=[5, 3]", "train.lr_milestones must increase from one to the next, got [5, 3]"),
        ("train.lr_milestones=[5, 5]", "train.lr_milestones must increase from one to the next, got [5, 5]"),
    ],
)
def test_non_finite_and_absurd_values_are_errors_naming_the_key(
    tmp_path: Path, override: str, message: str
) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as info:
        load_config(path, [override])
    assert str(info.value) == f"{path}: {message}"


def test_the_largest_seed_and_a_late_milestone_are_accepted(tmp_path: Path) -> None:
    """Bounds, not taste: a 64-bit seed is a seed, and a milestone past the run's end is only warned
    about when the run's length is known (:mod:`lgfn.training.schedule`)."""
    config = load_config(write(tmp_path, ""), [f"train.seed={2**63 - 1}", "train.lr_milestones=[1, 500]"])
    assert (config.train.seed, config.train.lr_milestones) == (2**63 - 1, [1, 500])


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "train: [\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="section 'train' must be a mapping"):
        load_config(write(tmp_path, "train: 3\n"))


def test_saved_config_loads_back_equal(tmp_path: Path) -> None:
    config = config_from_dict({"model": {"num_features": 16}, "train": {"lr": 3e-4, "betas": [0.8, 0.99]}})
    save_config(config, tmp_path / "saved.yaml")
    again = load_config(tmp_path / "saved.yaml")
    assert again.to_dict() == config.to_dict()
    assert set(yaml.safe_load((tmp_path / "saved.yaml").read_text())) == {
        "model",
        "data",
        "train",
        "val",
        "log",
    }


@pytest.mark.parametrize("name", ["vimeo_x4.yaml", "smoke_cpu.yaml"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(REPO / "configs" / name)
    assert isinstance(config, ExperimentConfig)


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda path: path.name)
def test_no_cpu_config_gets_the_trainers_advice_to_change_backend(path: Path) -> None:
    """The trainer advises model.dcn_backend=grid_sample on a CPU; the shipped CPU configs follow it."""
    config = load_config(path)
    if config.train.device == "cpu":
        assert backend_hint("cpu", config.model.dcn_backend) is None
    assert backend_hint("cpu", "torchvision") is not None  # the check above checks something


def test_paper_config_holds_the_paper_recipe() -> None:
    config = load_config(REPO / "configs" / "vimeo_x4.yaml")
    assert config.model.architecture() == LGFNConfig()  # the authors' full network
    assert config.data.type == "vimeo90k" and config.data.lq_patch * config.model.scale == 192
    assert config.data.augment
    t = config.train
    assert (t.lr, t.betas, t.eps, t.weight_decay) == (1e-4, [0.9, 0.999], 1e-8, 0.0)
    assert (t.lr_milestones, t.lr_gamma, t.batch_size, t.loss) == ([50, 70, 90, 95], 0.5, 8, "l1")
    assert not t.batch_per_gpu and not t.scale_lr


def test_model_overrides_are_yaml_values_of_known_fields():
    values = parse_model_overrides(["num_rcab=5", "dcn_backend=grid_sample", "num_features=32"])
    assert values == {"num_rcab": 5, "dcn_backend": "grid_sample", "num_features": 32}


@pytest.mark.parametrize("item", ["num_rcabs=5", "num_rcab"])
def test_model_overrides_reject_unknown_keys_and_missing_values(item):
    with pytest.raises(ConfigError, match=r"expected KEY=VALUE with KEY one of .*num_rcab"):
        parse_model_overrides([item])


def test_the_deformable_backend_is_a_model_setting_but_not_architecture():
    config = config_from_dict({"model": {"dcn_backend": "grid_sample", "num_rcab": 2}})
    assert config.model.dcn_backend == "grid_sample"
    assert config.model.architecture() == LGFNConfig(num_rcab=2)
    with pytest.raises(ConfigError, match="dcn_backend"):
        config_from_dict({"model": {"dcn_backend": "cudnn"}})
