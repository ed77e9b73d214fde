"""Library modules log through module loggers (``logging.getLogger(__name__)``) under the ``m5mm`` logger, which
:func:`m5mm.utils.logging.get_logger` configures once: their records reach the run's log file."""
import logging
import re

import m5mm
from m5mm.utils.logging import LOGGER_NAME, close_log_file, get_logger

LIBRARY = m5mm.__file__.rsplit('/', 1)[0]


def test_no_module_names_the_m5mm_logger_by_a_literal():
    from pathlib import Path
    literal = re.compile(r"getLogger\(\s*['\"]m5mm['\"]\s*\)")
    offenders = {str(p.relative_to(LIBRARY)) for p in Path(LIBRARY).rglob('*.py')
                 if literal.search(p.read_text(encoding='utf-8'))}
    assert offenders <= {'models/stacks.py'}   # its logger goes with the activation-checkpointing rework


def test_a_module_logger_writes_to_the_run_log(tmp_path):
    from m5mm.evaluation import report   # any library module with a module logger
    assert report.logger.name == 'm5mm.evaluation.report'
    log_file = tmp_path / 'train.log'
    get_logger(log_file)
    try:
        report.logger.info('a message from a module logger')
        logging.getLogger(LOGGER_NAME).info('and one from the m5mm logger')
    finally:
        close_log_file(log_file)
    text = log_file.read_text()
    assert 'a message from a module logger' in text and 'and one from the m5mm logger' in text
