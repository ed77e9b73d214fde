"""Shared command-line pieces of the tools: the parser with ``--debug``, the ``main`` wrapper that prints a
user error as one line (exit 2), ``--cfg-options``, config + checkpoint arguments.

Every ``tools/*.py`` builds its parser with :func:`tool_parser` and decorates ``main`` with :func:`tool_main`,
and imports torch-heavy modules only after parsing its arguments, so ``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Callable, Optional, Sequence

from .cfg_options import CfgOptionsAction
from .cli_choices import FEATURE_KINDS
from .user_errors import is_user_error, user_message

#: Exit status of a usage or user error (argparse's, too).
USER_ERROR_EXIT = 2
DEBUG_FLAG = '--debug'


def tool_parser(description: Optional[str]) -> argparse.ArgumentParser:
    """An ArgumentParser showing ``description`` (the tool's docstring) as written, with ``--debug``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_debug_argument(parser)
    return parser


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--debug``: show the traceback of a user error too (read by :func:`tool_main`)."""
    parser.add_argument(DEBUG_FLAG, action='store_true',
                        help='on an error, show the full traceback instead of a one-line message')


def report_user_error(exc: BaseException, *, prog: str) -> SystemExit:
    """Print ``exc`` as ``PROG: error: MESSAGE`` plus a hint line on stderr; return the SystemExit (status 2)
    to raise, whose text is the message (so ``pytest.raises(SystemExit, match=...)`` reads it)."""
    message = user_message(exc)
    print(f'{prog}: error: {message}\n(add {DEBUG_FLAG} for the traceback)', file=sys.stderr, flush=True)
    exit_ = SystemExit(f'error: {message}')
    exit_.code = USER_ERROR_EXIT
    return exit_


def tool_main(main: Callable) -> Callable:
    """Decorate a tool's ``main(argv=None)``: a user error (:func:`m5mm.utils.user_errors.is_user_error`)
    ends the tool with one line on stderr and exit status 2; ``--debug`` anywhere in the arguments shows
    the traceback instead. Any other exception (a bug) propagates with its traceback."""

    @functools.wraps(main)
    def wrapper(argv: Optional[Sequence[str]] = None):
        args = list(sys.argv[1:] if argv is None else argv)
        try:
            return main(args)
        except Exception as exc:   # sorted below: a bug is re-raised untouched
            if DEBUG_FLAG in args or not is_user_error(exc):
                raise
            raise report_user_error(exc, prog=os.path.basename(main.__code__.co_filename)) from None

    return wrapper


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """Add the OpenMMLab ``--cfg-options key=value ...`` argument."""
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, default={},
                        help='override config entries, e.g. train_cfg.max_epochs=2 optim.optimizer.lr=3e-4 '
                             '"custom_hooks=[dict(type=HarmonizerWarmupHook,fraction=0.5)]"; '
                             'data_root=DIR points every dataset at DIR/manifest.jsonl')


def comma_list(text: str) -> list:
    """``'a, b,c'`` -> ``['a', 'b', 'c']`` (an argparse ``type``)."""
    return [name.strip() for name in text.split(',') if name.strip()]


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """``CONFIG CHECKPOINT``, ``--feature`` and ``--modalities`` of the tools that run a trained model."""
    parser.add_argument('config', help='the config the checkpoint was trained with: a .py file (executed: name only '
                                       'one you trust) or the checkpoint\'s config.json (read as data)')
    parser.add_argument('checkpoint', help='checkpoint dir, work dir (latest checkpoint) or weights file; '
                                           '"none" for a model without weights (FrozenConcatModel)')
    parser.add_argument('--feature', default='joint', choices=FEATURE_KINDS, help='feature used (default joint)')
    parser.add_argument('--modalities', type=comma_list, default=None,
                        help='compute features with only these modalities present, e.g. text or image,text')
