"""Training a dataset's tokenizer explicitly (``tools/build_tokenizer.py``)."""
from __future__ import annotations

import os
from typing import Optional, Tuple

from m5mm.registry import DATASETS

from .data_argument import dataset_cfg_from_target
from .tokenizer import TextTokenizer, train_tokenizer

TEXT_MODALITIES = ('text', 'table')


def build_dataset_tokenizer(target: str, *, out: Optional[str] = None, vocab_size: Optional[int] = None,
                            lowercase: bool = True, cfg_options: Optional[dict] = None) -> Tuple[TextTokenizer, str]:
    """Train a WordPiece tokenizer on the train split's titles and tables and save it.

    Args:
        target: a data folder or a config file (its ``train_dataloader.dataset``).
        out: output folder; default: the config's ``tokenizer.path``, else ``DATA_ROOT/tokenizer``.
        vocab_size: default: the config's, else 4000.
        lowercase: lower-case the text.
        cfg_options: ``--cfg-options`` applied to a config target.

    Returns:
        The tokenizer and the folder it was saved to (an existing one is replaced).
    """
    cfg = dataset_cfg_from_target(target, cfg_options=cfg_options)
    tok_cfg = dict(cfg.get('tokenizer') or {})
    out = out or tok_cfg.get('path') or os.path.join(cfg['data_root'], 'tokenizer')
    vocab_size = vocab_size or tok_cfg.get('vocab_size') or 4000
    modalities = cfg.get('modalities')
    names = [m for m in (modalities or TEXT_MODALITIES) if m in TEXT_MODALITIES]
    if not names:
        raise ValueError(f'{target}: no text or table modality to train a tokenizer on')
    cfg.update(split='train', tokenizer=None, on_bad_line='skip',
               modalities={m: dict(source='raw') for m in names})
    dataset = DATASETS.build(cfg)
    texts = [text for record in dataset.records for name, spec in dataset.specs.items()
             for text in spec.text_values(record['fields'][name])]
    if not texts:
        raise ValueError(f'{target}: the train split has no text or table values')
    tokenizer = train_tokenizer(texts, out_dir=out, vocab_size=vocab_size, lowercase=lowercase)
    return tokenizer, os.path.abspath(out)
