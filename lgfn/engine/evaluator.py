"""Temporary re-export for the parallel restructuring; removed at integration."""

from lgfn.evaluation.compare import compare_methods
from lgfn.evaluation.evaluator import evaluate
from lgfn.evaluation.report import format_score, format_table, write_report
from lgfn.evaluation.resume import PARTIAL_FILE
from lgfn.evaluation.scoring import FrameCallback, Upscaler

__all__ = [
    "PARTIAL_FILE",
    "FrameCallback",
    "Upscaler",
    "compare_methods",
    "evaluate",
    "format_score",
    "format_table",
    "write_report",
]
