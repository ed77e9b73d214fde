"""Test helpers for m5mm and its plugins, installed with m5mm (``from m5mm.testing import make_batch``).

* :func:`make_batch` — a tiny collated five-modality batch with absent samples and padding;
  :func:`tiny_encoder_cfgs` / :func:`tiny_data_meta` — encoder configs and a dataset ``meta`` that
  fit it; ``SIZES`` / ``TOKENS`` — its tensor sizes and special token ids.
* :func:`train_tokenizer` — a WordPiece tokenizer trained on a few strings (``out_dir`` written).
* :func:`run_training` — a training run from a config file, as ``tools/train.py`` runs it.
"""
from m5mm.datasets.tokenizer import train_tokenizer
from m5mm.engine import run_training

from .batch_factory import BUILTIN, SIZES, TOKENS, make_batch, tiny_data_meta, tiny_encoder_cfgs

__all__ = ['BUILTIN', 'SIZES', 'TOKENS', 'make_batch', 'run_training', 'tiny_data_meta', 'tiny_encoder_cfgs',
           'train_tokenizer']
