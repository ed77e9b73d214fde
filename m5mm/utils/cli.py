"""Shared command-line pieces of the tools (``--cfg-options``, config + checkpoint arguments)."""
from __future__ import annotations

import argparse

from mmengine.config import DictAction


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """Add the OpenMMLab ``--cfg-options key=value ...`` argument."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, e.g. train_cfg.max_epochs=2 optim.optimizer.lr=3e-4; '
                             'data_root=DIR points every dataset at DIR/manifest.jsonl')


def comma_list(text: str) -> list:
    """``'a, b,c'`` -> ``['a', 'b', 'c']`` (an argparse ``type``)."""
    return [name.strip() for name in text.split(',') if name.strip()]


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """``CONFIG CHECKPOINT``, ``--feature`` and ``--modalities`` of the tools that run a trained model."""
    from m5mm.evaluation.features import KINDS
    parser.add_argument('config', help='the config the checkpoint was trained with: a .py file (executed: name only '
                                       'one you trust) or the checkpoint\'s config.json (read as data)')
    parser.add_argument('checkpoint', help='checkpoint dir, work dir (latest checkpoint) or weights file')
    parser.add_argument('--feature', default='joint', choices=KINDS, help='feature used (default joint)')
    parser.add_argument('--modalities', type=comma_list, default=None,
                        help='compute features with only these modalities present, e.g. text or image,text')
