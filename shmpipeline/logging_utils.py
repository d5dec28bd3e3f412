"""Logging helpers: a level-coloured console formatter and package loggers.

``configure_colored_logging()`` is what example scripts call first; colours
are used only when the stream is a terminal (or when asked), so logs piped
to a file stay plain text.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["ColorFormatter", "configure_colored_logging", "get_logger"]

DEFAULT_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"


class ColorFormatter(logging.Formatter):
    """A formatter that colours the level name with ANSI escapes."""

    RESET = "\033[0m"
    COLORS = {
        logging.DEBUG: "\033[36m",
        logging.INFO: "\033[32m",
        logging.WARNING: "\033[33m",
        logging.ERROR: "\033[31m",
        logging.CRITICAL: "\033[35m",
    }

    def __init__(self, fmt: str = DEFAULT_FORMAT, *, use_color: bool = True) -> None:
        super().__init__(fmt)
        self.use_color = use_color

    def format(self, record: logging.LogRecord) -> str:
        """The record with its level name coloured (the record is restored)."""
        color = self.COLORS.get(record.levelno) if self.use_color else None
        if color is None:
            return super().format(record)
        plain = record.levelname
        record.levelname = f"{color}{plain}{self.RESET}"
        try:
            return super().format(record)
        finally:
            record.levelname = plain


def get_logger(name: str) -> logging.Logger:
    """The package logger ``shmpipeline.<name>``."""
    return logging.getLogger(f"shmpipeline.{name}")


def configure_colored_logging(
    *,
    level: int = logging.INFO,
    fmt: str = DEFAULT_FORMAT,
    stream: TextIO | None = None,
    use_color: bool | None = None,
) -> logging.Handler:
    """Send root logging to ``stream`` (default stdout) through a
    :class:`ColorFormatter`; replaces existing root handlers. Returns the
    handler."""
    target = sys.stdout if stream is None else stream
    if use_color is None:
        use_color = bool(getattr(target, "isatty", lambda: False)())
    handler = logging.StreamHandler(stream=target)
    handler.setFormatter(ColorFormatter(fmt, use_color=use_color))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    return handler
