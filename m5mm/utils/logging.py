"""The ``m5mm`` logger: console on the main process, plus a log file in the work dir."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

LOGGER_NAME = 'm5mm'
_FORMAT = '%(asctime)s %(levelname)s %(message)s'


def get_logger(log_file: Optional[Path] = None, *, is_main: bool = True) -> logging.Logger:
    """The ``m5mm`` logger; adds a console handler once and a file handler per ``log_file``."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    if not any(getattr(h, '_m5mm_console', False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, '%H:%M:%S'))
        handler._m5mm_console = True
        logger.addHandler(handler)
    if log_file is not None and is_main:
        log_file = Path(log_file).resolve()
        if not any(getattr(h, 'baseFilename', None) == str(log_file) for h in logger.handlers):
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(log_file)
            file_handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(file_handler)
    return logger


def _file_handlers(log_file: Path) -> list:
    target = str(Path(log_file).resolve())
    return [h for h in logging.getLogger(LOGGER_NAME).handlers if getattr(h, 'baseFilename', None) == target]


def close_log_file(log_file: Path) -> None:
    """Stop writing to ``log_file`` (later runs in this process log elsewhere)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in _file_handlers(log_file):
        logger.removeHandler(handler)
        handler.close()


def log_exception_to_file(log_file: Path, message: str, exc: BaseException) -> bool:
    """Write ``message`` and ``exc``'s traceback to ``log_file`` only (the console shows the traceback
    anyway); returns False when no handler writes to that file."""
    handlers = _file_handlers(log_file)
    record = logging.getLogger(LOGGER_NAME).makeRecord(
        LOGGER_NAME, logging.ERROR, __file__, 0, message, (), (type(exc), exc, exc.__traceback__))
    for handler in handlers:
        handler.handle(record)
    return bool(handlers)
