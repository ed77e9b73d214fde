"""A catalogue's manifest read with a trained model's own modality pipelines (for indexing and mining)."""
from __future__ import annotations

from typing import Optional, Sequence


def encoder_catalogue_dataset(encoder, data_root: str, manifest: Optional[str] = None,
                              splits: Optional[Sequence[str]] = None):
    """A :class:`~m5mm.datasets.ManifestDataset` of ``data_root`` with ``encoder``'s modalities and tokenizer
    (bad lines skipped and counted); ``splits``: only these (None: all)."""
    from m5mm.datasets import ManifestDataset
    tokenizer = encoder.preprocessor.tokenizer
    if tokenizer is not None and tokenizer.path is None:
        raise ValueError('the encoder\'s tokenizer has no folder; save the model (save_pretrained) and load it again')
    return ManifestDataset(data_root=data_root, manifest=manifest, split=list(splits) if splits else None,
                           modalities=encoder.preprocessor.modalities, on_bad_line='skip',
                           tokenizer=dict(path=tokenizer.path) if tokenizer is not None else None)
