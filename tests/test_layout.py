"""The tree's shape (issue 13): no source file over 600 lines, no function body over 80 lines, the
old homes gone. Counted with ``ast`` so that docstrings do not count as body."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

MAX_FILE_LINES = 600
MAX_BODY_LINES = 80
SOURCES = sorted((REPO / "lgfn").rglob("*.py")) + [REPO / "test.py", REPO / "train.py"]


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    first = body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_source_files_and_functions_stay_short(path: Path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path} has {len(text.splitlines())} lines"
    long = [
        f"{node.name} (line {node.lineno}): {_body_lines(node)} lines"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _body_lines(node) > MAX_BODY_LINES
    ]
    assert not long, f"{path}: function bodies over {MAX_BODY_LINES} lines: {long}"


def test_the_old_homes_are_gone():
    for old in ("lgfn/engine", "lgfn/cli.py", "lgfn/inference.py", "lgfn/data/video.py", "lgfn/console.py"):
        assert not (REPO / old).exists(), f"{old} should have moved into its package"
