"""``lgfn export`` is quiet by default: the exporter's own log lines and prints only with ``-v``
(lgfn.export.exporter_output)."""

from __future__ import annotations

import logging

import pytest

from lgfn import cli
from lgfn.cli.console import setup_logging
from lgfn.export.exporter_output import exporter_output

pytest.importorskip("onnxscript")


@pytest.fixture
def root_logging():
    """The CLI's logging set-up (root handler on stderr at INFO), undone afterwards."""
    yield setup_logging
    logging.getLogger().handlers.clear()


def _chatter() -> None:
    logging.getLogger("onnxscript.optimizer").info("Replaced initializer 'val_9' with existing 'val_3'")
    logging.getLogger("torch.onnx").warning("a real warning")
    print("[torch.onnx] Obtain model graph")


def test_quiet_holds_the_exporters_lines_back_but_not_its_warnings(capsys, root_logging):
    root_logging(False)
    with exporter_output(verbose=False):
        _chatter()
    out, err = capsys.readouterr()
    assert out == "" and "Replaced initializer" not in err
    assert "a real warning" in err
    logging.getLogger("onnxscript.optimizer").info("after the export")  # the loggers are restored
    assert "after the export" in capsys.readouterr().err


def test_a_failed_export_shows_what_was_held(capsys, root_logging):
    root_logging(False)
    with pytest.raises(RuntimeError), exporter_output(verbose=False):
        _chatter()
        raise RuntimeError("export failed")
    out, err = capsys.readouterr()
    assert out == ""
    assert "Replaced initializer" in err and "[torch.onnx] Obtain model graph" in err


def test_verbose_passes_everything_to_stderr(capsys, root_logging):
    root_logging(True)
    with exporter_output(verbose=True):
        _chatter()
    out, err = capsys.readouterr()
    assert out == ""  # stdout keeps the command's result line only
    assert "Replaced initializer" in err and "[torch.onnx] Obtain model graph" in err


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_lgfn_export_of_a_tiny_model(tmp_path, capfd, tiny_ckpt, verbose):
    output = tmp_path / "tiny.onnx"
    argv = ["-v"] * verbose + ["export", str(tiny_ckpt), "-o", str(output), "--size", "8x8"]
    assert cli.main(argv) == 0
    out, err = capfd.readouterr()
    assert out.splitlines() == [out.strip()] and out.startswith(f"wrote {output} ")  # its one line
    if verbose:  # the exporter's own lines: its log and its progress prints, on stderr
        assert "Replaced initializer" in err and "[torch.onnx]" in err
    else:
        assert err == ""
    logging.getLogger().handlers.clear()
