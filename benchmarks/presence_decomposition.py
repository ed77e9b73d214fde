"""Issue 22: where the presence gap of an ``AlignedJointNeck`` model comes from (one trained cell).

    python benchmarks/presence_decomposition.py --catalogue demo --row scale_all --seed 0 --epochs 4 \
        --data-dir data --pretrained-root data/pretrained [--cfg-options ...] --out work_dirs/decomp/demo.json

trains the cell as benchmarks/real_towers.py does (same config, cached frozen features; weights kept as
OUT's model.safetensors unless --checkpoint names weights to evaluate instead, with no training), then,
on the catalogue's test products (query + gallery), reports:

* ``gaps``: the presence gap (and coarse mAP@1 of the query split against the gallery) of ``joint``
  formed as the model forms it (``config``), without completing absent modalities
  (``no_completion``), and with each of ``--leave-out``'s modalities left out of the mean (neither
  present nor predicted; patterns then read without it);
* ``pattern_pairs``: per unordered pair of presence patterns, the mean cosine of two products of one
  category (and of two different categories) and the pair counts;
* ``modality``: per pair of modalities (a, b), the mean cosine of a's centred unit vector of one product
  and b's of another product of the same category (``within``), of a different category
  (``between``), and of the same product (``same_product``, a != b);
* ``completion``: per modality, the cosine between a present modality's vector and its prediction from
  the product's other present modalities, and the prediction's length;
* ``train_pair_accuracy`` (a trained cell): per modality pair, the contrastive objective's accuracy on the
  last quarter of the training batches (chance: about 1 / batch size).
"""
import argparse
import importlib.util
import itertools
import json
import os
import sys
from typing import Dict, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


@torch.no_grad()
def collect(model, cfg, splits=('query', 'gallery')) -> Dict[str, object]:
    """Units (N, M, D) centred unit vectors, raw (N, M, D) unit vectors before centring, present (N, M),
    learned share (N, M), category (N,), split (N,), the model's joint (N, D)."""
    from m5mm.evaluation.evaluate import split_dataloader
    backbone = model.backbone
    neck = backbone.neck
    out = {k: [] for k in ('units', 'raw', 'present', 'share', 'category', 'split', 'joint')}
    for split in splits:
        for batch in split_dataloader(cfg, split):
            ctx = backbone.context(batch)
            present = neck._present(ctx)
            raw = neck._units(ctx.clean_embeddings)
            units = neck._stack(raw)
            share = present.float()
            if neck.importance:
                weights = ctx.pair_weights('clean_embeddings').weights
                learned = backbone.harmonizer.sample_importance(weights, present).float().clamp_min(0.0) * share
                share = torch.where(learned.sum(dim=1, keepdim=True) > 0, learned, share)
            out['units'].append(units.float())
            out['raw'].append(torch.stack([raw[m] for m in neck.modalities], dim=1).float())
            out['present'].append(present)
            out['share'].append(share)
            out['joint'].append(model.extract_features(batch)['joint'].float())
            out['category'].append(torch.as_tensor(batch['meta']['category']))
            out['split'] += [split] * present.shape[0]
    return {k: (torch.cat(v) if k != 'split' else np.asarray(v)) for k, v in out.items()}


def refit(neck, train: Dict[str, object]):
    """(centre (M, D), completion) fitted once on the final model's training-split vectors."""
    from m5mm.models.necks.modality_completion import ModalityCompletion
    raw, present = train['raw'], train['present']
    mean = torch.stack([raw[present[:, k], k].mean(dim=0) for k in range(raw.shape[1])])
    units = F.normalize(raw - mean, dim=-1)
    completion = ModalityCompletion(modalities=neck.modalities, dim=raw.shape[-1], ridge=neck.completion.ridge)
    completion.update(units, present)   # the first update takes the batch's moments: one closed-form fit
    return mean, completion


def form_joint(neck, units, present, share, *, complete: bool, leave_out: Sequence[int] = (), completion=None,
               unit_predictions: bool = False):
    """(N, D) unit ``joint`` as the neck forms it from the collected pieces (``leave_out``: modality indices
    neither present nor predicted; ``completion``: another fit; ``unit_predictions``: predictions at length 1)."""
    present = present.clone()
    share = share.clone()
    for k in leave_out:
        present[:, k] = False
        share[:, k] = 0.0
    stacked = units
    completion = completion or neck.completion
    if complete and completion is not None:
        stacked = completion(units, present)
        if unit_predictions:
            stacked = torch.where(present[..., None], stacked, F.normalize(stacked, dim=-1))
        mean_share = share.sum(dim=1, keepdim=True) / present.float().sum(dim=1, keepdim=True).clamp_min(1.0)
        share = torch.where(present, share, mean_share.expand_as(share))
        for k in leave_out:
            share[:, k] = 0.0
    joint = (share[..., None] * stacked).sum(dim=1) / share.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return F.normalize(joint, dim=-1), present


def gap_and_map(joint, present, category, split, modalities) -> Dict[str, float]:
    from m5mm.evaluation.tasks.presence_task import PresenceTask
    data = {'features': joint.numpy(), 'category': category.numpy(),
            'present': {m: present[:, k].numpy() for k, m in enumerate(modalities)}}
    res = PresenceTask()({'test': data}).results['presence']
    q, g = split == 'query', split == 'gallery'
    has = present.any(dim=1).numpy()
    sims = joint[q & has] @ joint[g & has].t()
    top = sims.argmax(dim=1)
    hit = (category[q & has] == category[g & has][top]).float().mean()
    return dict(gap=round(float(res['gap']), 4), same=round(float(res['same']), 4),
                different=round(float(res['different']), 4), share=round(float(res['share']), 4),
                top1=round(100 * float(hit), 1))


def pattern_pairs(joint, present, category, modalities) -> Dict[str, dict]:
    names = ['+'.join(m for m, f in zip(modalities, row) if f) or 'none' for row in present.tolist()]
    sims = (joint @ joint.t()).numpy()
    cat = category.numpy()
    n = len(names)
    iu, ju = np.triu_indices(n, 1)
    same_cat = cat[iu] == cat[ju]
    keys = np.asarray(['|'.join(sorted((names[i], names[j]))) for i, j in zip(iu, ju)])
    out = {}
    for key in np.unique(keys):
        rows = keys == key
        w, b = rows & same_cat, rows & ~same_cat
        if w.sum() < 3:
            continue
        out[key] = dict(within=round(float(sims[iu[w], ju[w]].mean()), 4), n_within=int(w.sum()),
                        between=round(float(sims[iu[b], ju[b]].mean()), 4) if b.any() else None)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]['n_within']))


def modality_cosines(units, present, category, modalities) -> Dict[str, dict]:
    cat = category.numpy()
    same = cat[:, None] == cat[None, :]
    eye = np.eye(len(cat), dtype=bool)
    out = {}
    for a, b in itertools.product(range(len(modalities)), repeat=2):
        pa, pb = present[:, a].numpy(), present[:, b].numpy()
        sims = (units[:, a] @ units[:, b].t()).numpy()
        both = pa[:, None] & pb[None, :]
        w, bt = both & same & ~eye, both & ~same
        entry = dict(within=round(float(sims[w].mean()), 4) if w.any() else None,
                     between=round(float(sims[bt].mean()), 4) if bt.any() else None)
        if a != b:
            d = np.diag(sims)[pa & pb]
            entry['same_product'] = round(float(d.mean()), 4) if d.size else None
        out[f'{modalities[a]}~{modalities[b]}'] = entry
    return out


def completion_quality(neck, units, present, modalities) -> Dict[str, dict]:
    if neck.completion is None:
        return {}
    out = {}
    for k, m in enumerate(modalities):
        rows = present[:, k] & (present.sum(dim=1) > 1)
        if not bool(rows.any()):
            continue
        masked = present[rows].clone()
        masked[:, k] = False
        predicted = neck.completion(units[rows], masked)[:, k]
        out[m] = dict(n=int(rows.sum()), cos=round(float(F.cosine_similarity(predicted, units[rows, k]).mean()), 4),
                      norm=round(float(predicted.norm(dim=-1).mean()), 4))
    return out


def decompose(model, cfg, leave_out: Sequence[str]) -> Dict[str, object]:
    neck = model.backbone.neck
    modalities = list(neck.modalities)
    d = collect(model, cfg)
    units, present, share, category, split = d['units'], d['present'], d['share'], d['category'], d['split']
    joint, _ = form_joint(neck, units, present, share, complete=True)
    check = float((joint - F.normalize(d['joint'], dim=-1)).abs().max())
    result = dict(modalities=modalities, max_abs_diff_to_model_joint=round(check, 6), gaps={})
    result['gaps']['config'] = gap_and_map(joint, present, category, split, modalities)
    j, p = form_joint(neck, units, present, share, complete=False)
    result['gaps']['no_completion'] = gap_and_map(j, p, category, split, modalities)
    for group in leave_out:
        idx = [modalities.index(m) for m in group.split('+') if m in modalities]
        if not idx:
            continue
        for complete in (True, False):
            j, p = form_joint(neck, units, present, share, complete=complete, leave_out=idx)
            key = f'without_{group}' + ('' if complete else '_no_completion')
            result['gaps'][key] = gap_and_map(j, p, category, split, modalities)
    j, p = form_joint(neck, units, present, share, complete=True, unit_predictions=True)
    result['gaps']['unit_predictions'] = gap_and_map(j, p, category, split, modalities)
    # the neck's running statistics fitted again, once, on the final model's training-split vectors
    mean, completion = refit(neck, collect(model, cfg, ('train',)))
    fresh = F.normalize(d['raw'] - mean, dim=-1)
    for name, kwargs in (('refit', {}), ('refit_unit_predictions', dict(unit_predictions=True)),
                         ('refit_no_completion', dict(complete=False))):
        j, p = form_joint(neck, fresh, present, share, completion=completion, **dict(dict(complete=True), **kwargs))
        result['gaps'][name] = gap_and_map(j, p, category, split, modalities)
    for group in leave_out:
        idx = [modalities.index(m) for m in group.split('+') if m in modalities]
        if idx:
            j, p = form_joint(neck, fresh, present, share, complete=True, completion=completion, leave_out=idx)
            result['gaps'][f'refit_without_{group}'] = gap_and_map(j, p, category, split, modalities)
    result['modality_refit'] = modality_cosines(fresh, present, category, modalities)
    result['pattern_pairs'] = pattern_pairs(joint, present, category, modalities)
    result['modality'] = modality_cosines(units, present, category, modalities)
    result['completion'] = completion_quality(neck, units, present, modalities)
    counts = {}
    for row in present.tolist():
        name = '+'.join(m for m, f in zip(modalities, row) if f) or 'none'
        counts[name] = counts.get(name, 0) + 1
    result['patterns'] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    return result


def train_pair_accuracy(metrics_file: str, last: float = 0.25) -> Dict[str, float]:
    """Per modality pair, the contrastive objective's in-batch accuracy on the training batches (``acc_con_*``),
    averaged over the last quarter of the logged steps: whether the pairs of different towers learn to align."""
    rows = [json.loads(line) for line in open(metrics_file)]
    tail = rows[-max(1, round(last * len(rows))):]
    keys = sorted({k for r in tail for k in r if k.startswith('acc_con_')})
    return {k[len('acc_con_'):]: round(float(np.mean([r[k] for r in tail if k in r])), 3) for k in keys}


def trained_model(args):
    """(model, cfg) of the cell: trained now, or ``--checkpoint``'s weights."""
    from m5mm.checkpoint.weights import save_model_state_dict
    from m5mm.engine.trainer import Trainer
    from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval
    from m5mm.utils.distributed import unwrap_model
    spec = importlib.util.spec_from_file_location('real_towers', os.path.join(HERE, 'real_towers.py'))
    towers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(towers)
    targs = towers.parse_args(['--rows', args.row, '--catalogues', args.catalogue, '--epochs', str(args.epochs),
                               '--data-dir', args.data_dir, '--pretrained-root', args.pretrained_root]
                              + (['--cfg-options', *args.cfg_options] if args.cfg_options else []))
    towers.ensure_cache(args.catalogue, towers.cached_modalities(args.row), targs)
    cfg = towers.row_config(args.row, args.catalogue, args.seed, targs)
    if args.checkpoint:
        return build_model_for_eval(cfg, args.checkpoint), cfg
    work_dir = os.path.splitext(args.out)[0]
    trainer = Trainer(cfg, work_dir=work_dir)
    trainer.train()
    model = unwrap_model(trainer.model).eval()
    save_model_state_dict(model.state_dict(), os.path.join(work_dir, 'model.safetensors'))
    return model, trainer.cfg


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--catalogue', required=True)
    parser.add_argument('--row', default='scale_all')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--data-dir', default='data')
    parser.add_argument('--pretrained-root', default='data/pretrained')
    parser.add_argument('--cfg-options', nargs='+', default=None, help='key=value, as benchmarks/real_towers.py')
    parser.add_argument('--checkpoint', default=None, help='weights of a run of the same cell (no training)')
    parser.add_argument('--leave-out', default='audio,video,audio+video', help='modality groups left out in turn')
    parser.add_argument('--out', required=True, help='JSON file written')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, cfg = trained_model(args)
    with torch.no_grad():
        result = dict(catalogue=args.catalogue, row=args.row, seed=args.seed, epochs=args.epochs,
                      cfg_options=args.cfg_options, checkpoint=args.checkpoint,
                      **decompose(model, cfg, args.leave_out.split(',')))
    if not args.checkpoint:
        metrics_file = os.path.join(os.path.splitext(args.out)[0], 'metrics.jsonl')
        result['train_pair_accuracy'] = train_pair_accuracy(metrics_file)
    print(json.dumps(result['gaps']), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
