"""Shared command-line pieces of the tools (``--cfg-options``)."""
from __future__ import annotations

import argparse

from mmengine.config import DictAction


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """Add the OpenMMLab ``--cfg-options key=value ...`` argument."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, e.g. train_cfg.max_epochs=2 optim.optimizer.lr=3e-4; '
                             'data_root=DIR points every dataset at DIR/manifest.jsonl')
