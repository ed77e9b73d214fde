"""``tools/export_model.py``: a training checkpoint -> an evaluated, self-contained model folder."""
from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from m5mm.datasets.query_file import DEFAULT_QUERY_FILE

from .loading import parts_from_run
from .model_card import summarize_training_data
from .product_encoder import ProductEncoder

logger = logging.getLogger(__name__)
PathLike = Union[str, Path]
CARD_TASKS = ('retrieval', 'classification', 'clustering', 'zero_shot')
ROBUSTNESS = ('default', 'all', 'none')


def robustness_subsets(modalities: Sequence[str], mode: Union[str, Sequence[Sequence[str]]] = 'default'
                       ) -> List[List[str]]:
    """Modality subsets of the robustness table.

    'default': each modality alone, each left out, and all; 'all': every non-empty subset; 'none';
    or the subsets themselves (``[['text'], ['text', 'image']]``).
    """
    names = list(modalities)
    if not isinstance(mode, str):
        subsets = [list(s) for s in mode]
        unknown = sorted({m for s in subsets for m in s} - set(names))
        if unknown or not all(subsets):
            raise ValueError(f'robustness subsets {subsets}: each needs modalities of the model {names}')
        return subsets
    if mode not in ROBUSTNESS:
        raise ValueError(f'robustness must be one of {ROBUSTNESS} or a list of subsets, got {mode!r}')
    if mode == 'none':
        return []
    if mode == 'all':
        return [list(c) for r in range(1, len(names) + 1) for c in itertools.combinations(names, r)]
    subsets = [[m] for m in names]
    if len(names) > 2:
        subsets += [[m for m in names if m != left] for left in names]
    return subsets + ([names] if len(names) > 1 else [])


def trained_prefixes(model: Any) -> tuple:
    """The prefix sizes a model's Matryoshka objective trained (empty without one)."""
    from m5mm.models.objectives import MatryoshkaObjective
    for objective in getattr(model, 'objectives', {}).values():
        if isinstance(objective, MatryoshkaObjective):
            width = model.backbone.fused_dim('the prefix table')
            return objective.dims_for(width)
    return ()


def evaluate_for_card(run, *, tasks: Optional[Sequence[str]] = None,
                      robustness: Union[str, Sequence[Sequence[str]]] = 'default') -> Dict[str, Any]:
    """Results, task counts, the robustness rows and the feature size of a loaded run's model."""
    from m5mm.evaluation.evaluate import evaluate_features, evaluate_model
    data_root = run.cfg.test_dataloader.dataset.get('data_root')
    if tasks is None:
        has_queries = data_root is not None and os.path.isfile(os.path.join(data_root, DEFAULT_QUERY_FILE))
        tasks = CARD_TASKS + (('text_retrieval',) if has_queries else ())
    subsets = robustness_subsets(list(run.preprocessor.specs), robustness)
    logger.info('evaluating for the model card on %s: %s, then %d robustness pass(es) (--no-eval skips, '
                '--tasks / --robustness choose)', data_root, ', '.join(tasks), len(subsets))
    results, counts, features = evaluate_features(run.model, run.cfg, tasks=tasks)
    rows = []
    for number, subset in enumerate(subsets, 1):
        logger.info('robustness %d/%d: retrieval with %s present', number, len(subsets), '+'.join(subset))
        scores = evaluate_model(run.model, run.cfg, tasks=('retrieval',), modalities=subset)
        rows.append(dict(modalities=subset, **scores))
    dim = int(features['query']['features'].shape[1]) if 'query' in features else None
    out = dict(results=results, counts=counts, robustness=rows, dim=dim,
               evaluated_on=dict(data_root=str(data_root), splits=['query', 'gallery'], tasks=list(tasks)))
    if dim is not None and 'gallery' in features and trained_prefixes(run.model):   # the card's dimensions table
        from m5mm.evaluation.prefix_retrieval import prefix_retrieval
        out['prefixes'] = prefix_retrieval(features, dims=trained_prefixes(run.model))
    return out


def export_model(checkpoint: PathLike, out_dir: PathLike, *, config: Optional[PathLike] = None,
                 cfg_options: Optional[dict] = None, evaluate: bool = True, tasks: Optional[Sequence[str]] = None,
                 robustness: Union[str, Sequence[Sequence[str]]] = 'default') -> ProductEncoder:
    """Write the model folder of a checkpoint, its card filled from an evaluation on the config's test data.

    Args:
        checkpoint: checkpoint dir, work dir (latest checkpoint) or weights file.
        out_dir: the model folder to write.
        config, cfg_options: the training config (default: the checkpoint's ``config.json``, read as data;
            a Python config given here is executed) and overrides.
        evaluate: run the evaluation for the card (else the card has the data summary only).
        tasks: evaluation tasks (default retrieval, classification, clustering, zero_shot, and
            text_retrieval when ``DATA_ROOT/queries.jsonl`` exists).
        robustness: subsets of the modality-robustness table: 'default', 'all', 'none' or a list.

    Returns:
        The encoder (loaded from the checkpoint) that was saved.
    """
    from .run_loader import load_run
    run = load_run(checkpoint, config=config, cfg_options=cfg_options)
    robustness = robustness_subsets(list(run.preprocessor.specs), robustness)   # fails before evaluating
    encoder = ProductEncoder(**parts_from_run(run))
    evaluation: Dict[str, Any] = dict(data=summarize_training_data(run.train_dataset))
    if evaluate:
        evaluation.update(evaluate_for_card(run, tasks=tasks, robustness=robustness))
    encoder.evaluation = evaluation
    encoder.save_pretrained(out_dir)
    logger.info('exported %s -> %s', run.checkpoint, out_dir)
    return encoder
