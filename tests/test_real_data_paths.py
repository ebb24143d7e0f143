"""LGFN_DATA and LGFN_REFERENCE point the real-data tests at a user's own copies; unset, they read the
project machine's ../shared/data and ../shared/reference beside the checkout."""

from __future__ import annotations

import pytest

from tests.helpers import (
    DEFAULT_DATA,
    DEFAULT_REFERENCE,
    REPO,
    real_data_root,
    reference_path,
    reference_root,
    shared_data_path,
)


def test_defaults_are_beside_the_checkout(monkeypatch):
    monkeypatch.delenv("LGFN_DATA", raising=False)
    monkeypatch.delenv("LGFN_REFERENCE", raising=False)
    assert real_data_root() == DEFAULT_DATA == REPO.parent / "shared" / "data"
    assert reference_root() == DEFAULT_REFERENCE == REPO.parent / "shared" / "reference"


def test_lgfn_data_is_honoured(monkeypatch, tmp_path):
    clip = tmp_path / "mine" / "Vid4" / "GT" / "city"
    clip.mkdir(parents=True)
    monkeypatch.setenv("LGFN_DATA", str(tmp_path / "mine"))
    assert shared_data_path("Vid4", "GT", "city") == clip


def test_a_missing_copy_skips_naming_the_path_and_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("LGFN_DATA", str(tmp_path))
    with pytest.raises(pytest.skip.Exception) as info:
        shared_data_path("Vimeo90K")
    message = str(info.value)
    assert str(tmp_path / "Vimeo90K") in message and "LGFN_DATA" in message


def test_lgfn_reference_is_honoured(monkeypatch, tmp_path):
    (tmp_path / "paper_tables.md").write_text("# tables\n")
    monkeypatch.setenv("LGFN_REFERENCE", str(tmp_path))
    assert reference_path("paper_tables.md") == tmp_path / "paper_tables.md"
    monkeypatch.setenv("LGFN_REFERENCE", str(tmp_path / "elsewhere"))
    with pytest.raises(pytest.skip.Exception, match="LGFN_REFERENCE"):
        reference_path("paper_tables.md")


def test_no_test_builds_its_own_shared_path():
    """Every real-data test goes through the helpers, so that the variables reach all of them."""
    built_here = ('parent / "shared"', 'parents[2] / "shared"', 'Path("../shared')
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "tests").rglob("*.py")
        if path.name not in ("helpers.py", "test_real_data_paths.py")
        and any(pattern in path.read_text() for pattern in built_here)
    ]
    assert offenders == []
