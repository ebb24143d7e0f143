"""README.md, the pages of docs/, data/README.md and checkpoints/README.md tell one story: every
repository path they name exists, every command line they show is accepted by the named command's own
parser (parsed, never run), and every link between them lands on a page and a heading that exist.

One rule for paths on every page: a path in a command line or a code span is read from the repository
root (where the commands run), a Markdown link from the folder of the page that holds it (so from
docs/ a repository file is ``../x``, as a Markdown viewer resolves it).

What may be named without existing is listed here, each with where the docs say it comes from:
:data:`PLACEHOLDERS` (files the reader brings or a command writes) and :data:`PLACEHOLDER_FOLDERS`
(folders whose contents are the reader's: datasets, run and result folders). A path written with
``<...>``, ``*`` or ``{...}`` is a pattern, not a path.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lgfn.cli import build_parser as build_lgfn_parser
from lgfn.cli.evaluate import build_parser as build_test_parser
from lgfn.cli.train import build_arg_parser as build_train_parser
from lgfn.config import load_config
from lgfn.errors import LGFNError
from tests.helpers import REPO

#: The README stays a short front page; the rest is one page per task in docs/.
README_MAX_LINES = 200
#: Every page of docs/ is found by the glob, so a new page is checked without editing this file.
DOC_PAGES = tuple(sorted(path.relative_to(REPO).as_posix() for path in (REPO / "docs").glob("*.md")))
DOCS = ("README.md", "data/README.md", "checkpoints/README.md", *DOC_PAGES)

#: Files the docs name that the reader brings, or that a command writes.
PLACEHOLDERS = {
    # The authors' released weights: data/README.md, "The authors' weights".
    "lgfn.pth": "the authors' weights",
    "checkpoints/lgfn.pth": "the authors' weights",
    # The reader's own videos and frame folders, and what `lgfn upscale` writes from them.
    **dict.fromkeys(
        ["input.mp4", "input.mkv", "hr.mp4", "long.mp4", "movie.mkv", "frames", "shots"], "the reader's video"
    ),
    **dict.fromkeys(
        ["output_x4.mp4", "out.mp4", "out.mkv", "frames_x4", "check.mp4", "long_x4.mp4", "preview.mp4"],
        "an output",
    ),
    "upscaled": "an output folder",
    # Written by the README's own examples: lgfn.save_checkpoint, scripts/export_checkpoint.py.
    "small.pth": "written by the example",
    "lgfn_x4.pth": "written by scripts/export_checkpoint.py",
    "model.onnx": "written by lgfn export",
    "lgfn_x4.onnx": "written by lgfn export",
    "a.pth": "the reader's checkpoints",
    "b.pth": "the reader's checkpoints",
    # test.py --test-list: the reader's list of septuplets (data/README.md, Vimeo-90K).
    "my_list.txt": "the reader's list",
    # Files of the authors' repository (BIOINSu/LGFN) that docs/training.md compares the trainer with.
    "data/vimeo.py": "the authors' repository",
    "data/common.py": "the authors' repository",
}
#: Folders whose contents are the reader's (datasets they unpack, their clips) or a run's output.
PLACEHOLDER_FOLDERS = (
    "data/Vid4",
    "data/SPMCS",
    "data/vimeo_septuplet",  # and data/vimeo_septuplet_BIx4, data/vimeo_septuplet_lq_cache
    "my_clips",  # and my_clips_lr
    "runs",
    "results",
    "/datasets",
    "/data",
    "../shared/data",  # the project machine's copies, beside the checkout (not part of the repository)
    ".venv",  # made by the README's first command, python3 -m venv .venv
)
#: Commands whose options are checked: their parser (a parse error raises or exits) and the words it
#: gets before the command's own arguments.
PARSERS: dict[str, tuple[Callable, list[str]]] = {
    "python test.py": (build_test_parser, []),
    "python train.py": (build_train_parser, []),
    "torchrun train.py": (build_train_parser, []),
    "torchrun test.py": (build_test_parser, []),
    "torchrun -m lgfn upscale": (build_lgfn_parser, ["upscale"]),
    "lgfn upscale": (build_lgfn_parser, ["upscale"]),
    "lgfn export": (build_lgfn_parser, ["export"]),
    "python -m lgfn upscale": (build_lgfn_parser, ["upscale"]),
}
#: Commands that set the project up or run its tools; only the files they name are checked.
TOOLS = ("python3 -m venv", ".venv/bin/", "pip ", "mim ", "python -m pytest", "python scripts/")


def _text(doc: str) -> str:
    return (REPO / doc).read_text()


def code_blocks(text: str) -> Iterator[str]:
    """The shell lines of the fenced blocks (not ``python`` code), continuations joined."""
    for language, body in re.findall(r"```(\w*)\n(.*?)```", text, re.DOTALL):
        if language == "python":
            continue
        yield from body.replace("\\\n", " ").splitlines()


def commands(text: str) -> Iterator[str]:
    """Every command: each line of the shell blocks and each inline code span that starts like one,
    split at ``&&``, without ``# comments``."""
    spans = [span.replace("\n", " ") for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", text)]
    for line in [*code_blocks(text), *spans]:
        for command in line.split("&&"):
            command = command.split(" # ")[0].strip()
            if command.startswith(("python", "lgfn ", "torchrun ", ".venv/", "pip ", "mim ")):
                yield command


def _parser_for(words: list[str]) -> tuple[Callable | None, list[str], list[str]]:
    """The parser of a command's program, the words before the arguments, and the arguments."""
    if words[0] == "torchrun":
        rest = words[1:]
        while rest and rest[0].startswith("--"):  # torchrun's own options: --nproc_per_node=8, --nnodes=2
            rest = rest[1:]
        if rest[:3] == ["-m", "lgfn", "--"]:  # '--' ends torchrun's options
            rest = ["-m", "lgfn", *rest[3:]]
        words = ["torchrun", *rest]
    for program, (build, prefix) in PARSERS.items():
        length = len(program.split())
        if words[:length] == program.split():
            return build, prefix, words[length:]
    return None, [], words


def is_placeholder(path: str) -> bool:
    if path.rstrip("/") in PLACEHOLDERS or re.search(r"[<>*{}]", path):
        return True
    return any(
        path == folder or path.startswith((f"{folder}/", f"{folder}_")) for folder in PLACEHOLDER_FOLDERS
    )


def looks_like_path(word: str) -> bool:
    return "/" in word or bool(re.search(r"\.(pth|ya?ml|py|txt|md|mp4|mkv|mov|avi|png)$", word))


def missing_paths(words: list[str], where: Path = REPO) -> list[str]:
    """The path-like words that neither exist (relative to ``where``) nor are placeholders."""
    found = []
    for word in words:
        word = word.split("=", 1)[-1] if word.startswith("--") or "=" in word else word
        word = word.split("::")[0]  # tests/x.py::test_name
        if looks_like_path(word) and not word.startswith(("-", "http")) and not is_placeholder(word):
            if not (where / word).exists():
                found.append(word)
    return found


def check_command(command: str) -> list[str]:
    """What is wrong with one command line: a missing path, an option its parser refuses."""
    words = shlex.split(command)
    problems = [f"{command}: no such path {path}" for path in missing_paths(words)]
    if words[0] in (".venv/bin/python", ".venv/bin/lgfn"):  # the virtual environment's programs
        words[0] = words[0].removeprefix(".venv/bin/")
    build, prefix, arguments = _parser_for(words)
    if build is None:
        if not command.startswith(TOOLS):
            problems.append(f"{command}: unknown command (add it to PARSERS or TOOLS)")
        return problems
    if "--help" in arguments or not arguments:  # a bare command name is a mention in the prose
        return problems
    try:
        args = build().parse_args([*prefix, *arguments])
    except (LGFNError, SystemExit) as exc:
        return [*problems, f"{command}: {exc}"]
    if getattr(args, "config", None) and (REPO / args.config).is_file():
        try:  # every --set key of a training command exists in the config
            load_config(REPO / args.config, args.overrides)
        except LGFNError as exc:
            problems.append(f"{command}: {exc}")
    return problems


def inline_paths(text: str) -> Iterator[str]:
    """Repository paths in inline code spans and in Markdown links (the latter relative to the doc)."""
    for span in re.findall(r"(?<!`)`([^`\s]+)`(?!`)", text):
        if re.match(r"^(\.\./)?(lgfn|configs|scripts|checkpoints|tests|data)/", span):
            yield span


def links(text: str) -> list[str]:
    """The targets of the Markdown links that are not web addresses: ``path``, ``path#anchor`` or
    ``#anchor``."""
    return [link for link in re.findall(r"\]\(([^)\s]+)\)", text) if not link.startswith(("http", "mailto:"))]


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them: lower case, punctuation dropped,
    spaces to hyphens (fenced blocks are not headings)."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    titles = re.findall(r"^#{1,6} +(.+?) *#*$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-") for title in titles}


def broken_links(doc: str, root: Path = REPO) -> list[str]:
    """The links of ``doc`` (relative to ``root``) whose file does not exist, or whose ``#anchor`` is
    no heading of the page it points to."""
    page = root / doc
    problems = []
    for link in links(page.read_text()):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            problems.append(f"{doc}: {link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target.read_text()):
            problems.append(f"{doc}: {link}: no heading #{anchor} in {target.relative_to(root.resolve())}")
    return problems


def test_the_docs_are_found_and_their_commands_extracted() -> None:
    assert {"docs/evaluation.md", "docs/training.md", "docs/upscaling.md", "docs/export.md"} <= set(DOC_PAGES)
    assert len(list(commands(_text("README.md")))) >= 10  # the extraction works
    assert sum(len(list(commands(_text(doc)))) for doc in DOCS) >= 80


@pytest.mark.parametrize("doc", DOCS)
def test_every_command_line_parses_and_names_existing_files(doc: str) -> None:
    problems = [problem for command in commands(_text(doc)) for problem in check_command(command)]
    assert problems == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_repository_path_exists(doc: str) -> None:
    text = _text(doc)
    problems = missing_paths(list(inline_paths(text)))
    problems += missing_paths(
        [link.split("#")[0] for link in links(text) if not link.startswith("#")], where=(REPO / doc).parent
    )
    assert problems == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_link_lands_on_a_page_and_heading_that_exist(doc: str) -> None:
    assert broken_links(doc) == []


def test_the_readme_is_short_and_links_every_docs_page() -> None:
    text = _text("README.md")
    assert len(text.splitlines()) < README_MAX_LINES
    linked = {link.partition("#")[0] for link in links(text)}
    assert [page for page in DOC_PAGES if page not in linked] == []


def test_a_made_up_path_or_option_is_caught() -> None:
    assert check_command("python test.py --dataset vid4 --ckpt checkpoints/lgfn_x4.pth") == [
        "python test.py --dataset vid4 --ckpt checkpoints/lgfn_x4.pth: no such path checkpoints/lgfn_x4.pth"
    ]
    (problem,) = check_command("python test.py --dataset vid4 --fast")
    assert "unrecognized arguments: --fast" in problem
    (problem,) = check_command("lgfn upscale input.mp4 -o out.mp4 --turbo")
    assert "--turbo" in problem
    (problem,) = check_command("python train.py -c configs/vimeo_x4.yaml --set train.speed=2")
    assert "train.speed" in problem
    assert check_command("python scripts/no_such_script.py") == [
        "python scripts/no_such_script.py: no such path scripts/no_such_script.py"
    ]
    assert missing_paths(["configs/vimeo_x5.yaml", "data/Vid4/GT", "lgfn.pth"]) == ["configs/vimeo_x5.yaml"]


def test_a_broken_link_or_anchor_is_caught(tmp_path: Path) -> None:
    assert "speed" in anchors("# Speed\n")
    assert "metrics---metrics-psnrssimtof" in anchors("# Metrics: `--metrics psnr,ssim,tof`\n")
    assert "not-a-heading" not in anchors("```\n# not a heading\n```\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Commands\n")
    (tmp_path / "docs" / "speed.md").write_text("# Speed\n")
    (tmp_path / "docs" / "page.md").write_text(
        "# Here\n[a](speed.md) [b](speed.md#no-such) [c](../README.md#commands)\n"
        "[d](nowhere.md) [e](#here) [f](#gone)\n"
    )
    assert broken_links("docs/page.md", root=tmp_path) == [
        "docs/page.md: speed.md#no-such: no heading #no-such in docs/speed.md",
        "docs/page.md: nowhere.md: no such file",
        "docs/page.md: #gone: no heading #gone in docs/page.md",
    ]
