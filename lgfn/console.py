"""Temporary re-export for the parallel restructuring; removed at integration."""

from lgfn.cli.console import EXIT_INTERRUPTED, EXIT_USER_ERROR, parse_size, run_main, setup_logging

__all__ = ["EXIT_INTERRUPTED", "EXIT_USER_ERROR", "parse_size", "run_main", "setup_logging"]
