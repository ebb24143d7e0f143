"""The package metadata lives in pyproject.toml (PEP 621): dependencies as ranges (never ``==``), the
extras, the package data and the console script; the pinned requirements*.txt are one tested point
inside those ranges."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import pytest

import lgfn
from tests.helpers import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
requirements = pytest.importorskip("packaging.requirements")

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
EXTRAS = ("dev", "onnx", "vapoursynth", "mmcv")


def _all_requirements() -> list[str]:
    return [
        *PROJECT["dependencies"],
        *(r for extra in EXTRAS for r in PROJECT["optional-dependencies"][extra]),
    ]


def _pins(name: str) -> dict[str, str]:
    """``{package: version}`` of a requirements file, following its ``-r`` includes."""
    pins: dict[str, str] = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            pins.update(_pins(line[3:].strip()))
        elif "==" in line:
            package, version = line.split("==")
            pins[package.strip().lower()] = version.strip()
    return pins


def test_pyproject_is_the_one_home_of_the_metadata():
    assert not (REPO / "setup.py").exists() and not (REPO / "setup.cfg").exists()
    assert PROJECT["name"] == "lgfn" and PROJECT["version"] == lgfn.__version__
    assert PROJECT["scripts"] == {"lgfn": "lgfn.cli:main"}
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-data"] == {"lgfn.evaluation": ["paper_tables.json"]}
    assert (REPO / "lgfn" / "evaluation" / "paper_tables.json").is_file()


def test_every_requirement_is_a_range_with_a_lower_end():
    assert set(EXTRAS) <= set(PROJECT["optional-dependencies"])
    for text in _all_requirements():
        requirement = requirements.Requirement(text)
        if requirement.name == "lgfn":  # dev pulls in the onnx extra
            continue
        operators = {spec.operator for spec in requirement.specifier}
        assert ">=" in operators and not operators & {"==", "==="}, text


def test_the_vapoursynth_extra_is_for_python_312_and_newer():
    extra = {
        requirements.Requirement(r).name: requirements.Requirement(r)
        for r in PROJECT["optional-dependencies"]["vapoursynth"]
    }
    assert {"vapoursynth", "vapoursynth-mlrt-ort", "vapoursynth-mlrt-ov", "vapoursynth-bestsource"} <= set(
        extra
    )
    for name, requirement in extra.items():
        assert not requirement.marker.evaluate({"python_version": "3.11"}), name
        assert requirement.marker.evaluate({"python_version": "3.12"}), name
    # The torch-free environment's pins (requirements-vapoursynth.txt) lie inside the extra's ranges.
    for package, version in _pins("requirements-vapoursynth.txt").items():
        assert extra[package].specifier.contains(version), f"{package}=={version}"


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-onnx.txt", "requirements-dev.txt"])
def test_the_pinned_set_lies_inside_the_ranges(name):
    ranges = {
        requirements.Requirement(r).name.lower(): requirements.Requirement(r) for r in _all_requirements()
    }
    for package, version in _pins(name).items():
        assert package in ranges, f"{name} pins {package}, which pyproject.toml does not name"
        assert ranges[package].specifier.contains(version, prereleases=True), f"{package}=={version}"


def test_every_runtime_dependency_is_pinned_for_the_readme_and_ci():
    pinned = _pins("requirements-dev.txt")
    for text in _all_requirements():
        requirement = requirements.Requirement(text)
        if requirement.name in ("lgfn", "mmcv") or requirement.marker is not None:
            continue  # mmcv compiles against the torch at hand; VapourSynth: requirements-vapoursynth.txt
        assert requirement.name.lower() in pinned, text


def _installed_from_this_tree() -> importlib.metadata.Distribution | None:
    """The installed lgfn distribution whose install record points at this checkout, if any (an
    ``lgfn.egg-info`` a build left in the tree records no install)."""
    for dist in importlib.metadata.distributions(name="lgfn"):
        url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
        if url and Path(re.sub("^file://", "", url)).resolve() == REPO.resolve():
            return dist
    return None


@pytest.mark.skipif(_installed_from_this_tree() is None, reason="the installed lgfn is another checkout's")
def test_installed_metadata_has_the_ranges():
    dist = _installed_from_this_tree()
    installed = dist.requires or []
    operators = {spec.operator for r in installed for spec in requirements.Requirement(r).specifier}
    assert installed and ">=" in operators and not operators & {"==", "==="}
    assert {requirements.Requirement(r).name for r in _all_requirements()} <= {
        requirements.Requirement(r).name for r in installed
    }
    assert set(EXTRAS) <= set(dist.metadata.get_all("Provides-Extra"))
