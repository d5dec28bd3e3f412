"""Colored log output for scripts and examples.

The published shmpipeline's example scripts call
:func:`configure_colored_logging` first; it installs one stream handler on
the root logger whose level names are colored by severity.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

__all__ = ["ColorFormatter", "configure_colored_logging", "get_logger"]

DEFAULT_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"


class ColorFormatter(logging.Formatter):
    """A formatter that wraps the level name in an ANSI color by severity."""

    RESET = "\033[0m"
    COLORS = {
        logging.DEBUG: "\033[36m",  # cyan
        logging.INFO: "\033[32m",  # green
        logging.WARNING: "\033[33m",  # yellow
        logging.ERROR: "\033[31m",  # red
        logging.CRITICAL: "\033[35m",  # magenta
    }

    def __init__(self, fmt: str = DEFAULT_FORMAT, *, use_color: bool = True) -> None:
        super().__init__(fmt)
        self.use_color = use_color

    def format(self, record: logging.LogRecord) -> str:
        color = self.COLORS.get(record.levelno) if self.use_color else None
        if color is None:
            return super().format(record)
        plain = record.levelname
        record.levelname = f"{color}{plain}{self.RESET}"
        try:
            return super().format(record)
        finally:
            record.levelname = plain  # other handlers see the record unchanged


def get_logger(name: str) -> logging.Logger:
    """The package logger ``shmpipeline.<name>``."""
    return logging.getLogger(f"shmpipeline.{name}")


def _wants_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def configure_colored_logging(
    *,
    level: int = logging.INFO,
    fmt: str = DEFAULT_FORMAT,
    stream: TextIO | None = None,
    use_color: bool | None = None,
) -> logging.Handler:
    """Send every log record at ``level`` and above to ``stream`` (default
    stdout) through a :class:`ColorFormatter`; replaces the root logger's
    handlers, so calling it twice does not duplicate lines.

    ``use_color=None`` colors only a terminal (and never when ``NO_COLOR``
    is set), so redirected output stays plain text. Returns the handler.
    """
    target = sys.stdout if stream is None else stream
    color = _wants_color(target) if use_color is None else use_color
    handler = logging.StreamHandler(target)
    handler.setFormatter(ColorFormatter(fmt, use_color=color))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    return handler
