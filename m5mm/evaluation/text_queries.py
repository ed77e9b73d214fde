"""Text embedded by the model for the text-side tasks: zero-shot category prompts, query-file queries.

Texts go through the test dataset's own ``text`` pipeline and collate (a :class:`RecordDataset`
of records that have only a title) and :func:`extract_features` with only ``text`` present, so
a prompt is embedded exactly as a product that has nothing but that title.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from m5mm.datasets.query_file import DEFAULT_QUERY_FILE, load_query_file
from m5mm.datasets.record_dataset import RecordDataset
from m5mm.evaluation.features import extract_features

PROMPTS_SPLIT, QUERIES_SPLIT = 'category_prompts', 'text_queries'
DEFAULT_PROMPTS = ('{}',)


def embed_texts(model: nn.Module, dataset, ids: Sequence[str], texts: Sequence[str], *, kind: str = 'joint',
                batch_size: int = 64) -> Dict[str, Any]:
    """Features dict of ``texts`` (one row each, named by ``ids``) through ``dataset``'s text pipeline."""
    if 'text' not in dataset.specs:
        raise ValueError(f'embedding text needs a text modality; the dataset has {list(dataset.specs)}')
    records = RecordDataset([dict(id=i, text=t) for i, t in zip(ids, texts)], specs=dataset.specs,
                            pipelines=dataset.pipelines, data_root=dataset.data_root, tokenizer=dataset.tokenizer,
                            template_fn=dataset.template, on_error='raise')
    loader = DataLoader(records, batch_size=batch_size, shuffle=False, collate_fn=records.collate)
    return extract_features(model, loader, kind=kind, modalities=['text'])


def prompt_texts(categories: Sequence[str], prompts: Sequence[str]) -> Tuple[List[str], np.ndarray]:
    """Every (category, prompt) text -> (texts, (P,) category index)."""
    prompts = list(prompts) or list(DEFAULT_PROMPTS)
    bad = [p for p in prompts if '{}' not in p]
    if bad:
        raise ValueError(f'a prompt must contain {{}} where the category name goes, got {bad}')
    texts = [p.replace('{}', name) for name in categories for p in prompts]
    labels = np.repeat(np.arange(len(categories)), len(prompts))
    return texts, labels


def text_splits(model: nn.Module, dataset, needs: Mapping[str, Optional[dict]], *, kind: str = 'joint',
                batch_size: int = 64) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, dict]]:
    """The text splits in ``needs`` (``category_prompts``, ``text_queries``), and what the tasks reading them add
    to their config.

    Args:
        dataset: the test dataset (its categories label the products; its text pipeline is used).
        needs: split name -> the options of the task that reads it: ``{'prompts': [...]}`` for
            ``category_prompts``, ``{'query_file': PATH}`` for ``text_queries`` (default ``DATA_ROOT/queries.jsonl``).

    Returns:
        ({split name: features dict}, {split name: extra config of the task reading it}).
    """
    splits: Dict[str, Dict[str, Any]] = {}
    updates: Dict[str, dict] = {}
    if PROMPTS_SPLIT in needs:
        prompts = dict(needs[PROMPTS_SPLIT] or {}).get('prompts') or DEFAULT_PROMPTS
        texts, labels = prompt_texts(dataset.categories, prompts)
        if not texts:
            raise ValueError('zero-shot classification needs categories; the test dataset has none')
        data = embed_texts(model, dataset, [f'prompt{i}' for i in range(len(texts))], texts, kind=kind,
                           batch_size=batch_size)
        splits[PROMPTS_SPLIT] = dict(data, category=labels)
    if QUERIES_SPLIT in needs:
        path = dict(needs[QUERIES_SPLIT] or {}).get('query_file') or os.path.join(dataset.data_root, DEFAULT_QUERY_FILE)
        queries = load_query_file(path)
        splits[QUERIES_SPLIT] = embed_texts(model, dataset, [q['id'] for q in queries],
                                            [q['text'] for q in queries], kind=kind, batch_size=batch_size)
        updates[QUERIES_SPLIT] = dict(query_file=str(path))
    return splits, updates
