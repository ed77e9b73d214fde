"""Issue 24, the sigmoid diagnosis: how large the contrastive forms' losses and gradients are beside the other
objectives, on the first train batches of a real-tower config at initialisation (no training step).

    python benchmarks/contrastive_gradient_probe.py --config configs/scale_5mod_packaged_cached.py \\
        --pretrained-root data/pretrained --data-root data/demo --batches 3 \\
        --json benchmarks/results/issue24_sigmoid_probe_demo.json

The model of ``catalogue_contrastive.py``'s ``mp_per_group2`` cell (seed 0, batch 16, ``per_group`` k=2) runs
forward on each batch; reported per batch:

* ``grad_norms``: the L2 norm over the trainable parameters of the gradient of each ``loss_*`` the model
  returns (the InfoNCE ``con``, the masked tasks, ``rkd``), and of ``loss_con`` recomputed by each contrastive
  form of :data:`FORMS` on the same embeddings and harmonizer weights: ``[value, grad norm, grad norm with the
  weights detached]``;
* ``weights``: the harmonizer's raw weights over the valid pairs (mean, range, share below 0) and after the
  config's ``mean_one_weights`` division;
* ``per_pair``: for the text-image pair, ``|d loss / d cos(b, c)|`` times the valid rows n (a row's view),
  averaged over positive and negative pairs and summed per row (InfoNCE vs sigmoid at t, bias).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import torch
from torch import Tensor

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'benchmarks'))

#: contrastive forms recomputed on the captured embeddings: name -> objective config
FORMS = {
    'infonce': dict(type='InterModalityContrastiveObjective'),
    'sigmoid': dict(type='SigmoidContrastiveObjective'),
    'sigmoid bias -ln B': dict(type='SigmoidContrastiveObjective', bias=-math.log(16)),
    'sigmoid t 1/0.07 bias -ln B': dict(type='SigmoidContrastiveObjective', temperature=0.07, bias=-math.log(16)),
    "sigmoid normalization='pairs'": dict(type='SigmoidContrastiveObjective', normalization='pairs'),
    "sigmoid weight_mode='loss'": dict(type='SigmoidContrastiveObjective', weight_mode='loss'),
}


def grad_norm(value: Tensor, params: List[Tensor]) -> float:
    grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
    return round(float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None))), 3)


def weight_facts(weights: Tensor, present: Tensor) -> Dict[str, float]:
    """The raw (B, M, M) weights over the valid off-diagonal pairs, and the range after the mean-one division."""
    from m5mm.models.objectives.inter_modality_contrastive_objective import pair_weight_mean
    valid = present[:, :, None] & present[:, None, :] & ~torch.eye(present.shape[1], dtype=torch.bool)[None]
    raw, mean = weights[valid], pair_weight_mean(weights, present)
    return dict(raw_mean=round(float(raw.mean()), 4), raw_min=round(float(raw.min()), 4),
                raw_max=round(float(raw.max()), 4), share_below_0=round(float((raw < 0).float().mean()), 3),
                mean_one_min=round(float((raw / mean).min()), 2), mean_one_max=round(float((raw / mean).max()), 2))


def per_pair(captured: dict, batch: int) -> Dict[str, dict]:
    """|d loss / d cos| on the text-image pair's positives and negatives (one direction, rows = text)."""
    import torch.nn.functional as F
    from m5mm.models.objectives.contrastive_losses import info_nce_rows, sigmoid_rows
    from m5mm.models.objectives.inter_modality_contrastive_objective import pair_weight_mean
    emb, pres, weights, groups = (captured[k] for k in ('embeddings', 'present', 'weights', 'groups'))
    order = list(emb)
    flags = torch.stack([pres[m].bool() for m in order], 1)
    w_all = weights / pair_weight_mean(weights, flags)
    i, j = order.index('text'), order.index('image')
    valid = pres['text'].bool() & pres['image'].bool()
    cos = F.normalize(emb['text'][valid], dim=-1) @ F.normalize(emb['image'][valid], dim=-1).t()
    w, code = w_all[valid][:, i, j], groups[valid]
    positive = code[:, None] == code[None, :]
    n = cos.shape[0]
    out = dict(cos_positive=round(float(cos[positive].mean()), 3), cos_negative=round(float(cos[~positive].mean()), 3),
               positives_per_row=round(float(positive.sum(1).float().mean()), 2), rows=n)
    for name, (kind, t, bias) in {'infonce T=0.07': ('nce', 1 / 0.07, 0.0), 'sigmoid t=10 b=-10': ('sig', 10.0, -10.0),
                                  'sigmoid t=10 b=-ln B': ('sig', 10.0, -math.log(batch)),
                                  'sigmoid t=1/0.07 b=-ln B': ('sig', 1 / 0.07, -math.log(batch))}.items():
        leaf = cos.clone().requires_grad_(True)
        logits = leaf * t * w[:, None] + bias
        loss = info_nce_rows(logits, positive)[0].mean() if kind == 'nce' else \
            sigmoid_rows(logits, positive, torch.ones(n, dtype=torch.bool)).sum() / n
        grad = torch.autograd.grad(loss, leaf)[0].abs() * n
        out[name] = dict(loss=round(float(loss), 3), positive_mean=round(float(grad[positive].mean()), 4),
                         negative_mean=round(float(grad[~positive].mean()), 4),
                         row_positive_sum=round(float((grad * positive).sum(1).mean()), 3),
                         row_negative_sum=round(float((grad * ~positive).sum(1).mean()), 3))
    return out


def probe(args) -> List[dict]:
    import catalogue_contrastive as cc
    from m5mm.engine.trainer import Trainer
    from m5mm.experiments.paper_tables.runner import resolve_cell
    from m5mm.registry import OBJECTIVES
    run = argparse.Namespace(config=args.config, pretrained_root=args.pretrained_root, data_root=args.data_root,
                             epochs=4, budget=None)
    base = cc.config_objectives(args.config)
    options = {**cc.variant_options('mp_per_group2', '', base, args.batch_size),
               'train_dataloader.batch_size': args.batch_size}
    spec = cc.cell_spec('mp_per_group2', 0, run, tempfile.mkdtemp(), options)
    cfg, _ = resolve_cell(spec.cells()[0], spec)
    trainer = Trainer(cfg, work_dir=tempfile.mkdtemp())
    model, con = trainer.model, trainer.model.objectives['con']
    captured, compute = {}, con.compute

    def capture(embeddings, present, weights=None, groups=None):
        captured.update(live=(embeddings, present, weights, groups),
                        embeddings={k: v.detach().float() for k, v in embeddings.items()},
                        present={k: v.detach() for k, v in present.items()},
                        weights=weights.detach().float(), groups=groups)
        return compute(embeddings, present, weights, groups)

    con.compute = capture
    params = [p for p in model.parameters() if p.requires_grad]
    common = {k: base['con'][k] for k in ('mean_one_weights',) if k in base['con']}
    forms = {name: OBJECTIVES.build(dict(form, group_by='instance', **common)) for name, form in FORMS.items()}
    rows = []
    try:
        model.train()
        for index, batch in enumerate(trainer.train_loader):
            if index >= args.batches:
                break
            out = model(batch)
            norms = {key: grad_norm(value, params) for key, value in out.items() if key.startswith('loss')}
            emb, present, weights, groups = captured['live']
            for name, form in forms.items():
                value = form.compute(emb, present, weights, groups)['loss_con']
                fixed = form.compute(emb, present, weights.detach(), groups)['loss_con']
                norms[name] = [round(float(value), 3), grad_norm(value, params), grad_norm(fixed, params)]
            flags = torch.stack([captured['present'][m].bool() for m in captured['embeddings']], 1)
            losses = {k: round(float(v), 4) for k, v in out.items() if k.startswith('loss')}
            rows.append(dict(batch=index, losses=losses, grad_norms=norms,
                             weights=weight_facts(captured['weights'], flags),
                             per_pair=per_pair(captured, args.batch_size)))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        trainer.close()
    return rows


def main(argv=None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='configs/scale_5mod_packaged_cached.py')
    parser.add_argument('--pretrained-root', default='data/pretrained')
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--batches', type=int, default=3)
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = probe(args)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(issue=24, config=args.config, data_root=args.data_root,
                                                   batch_size=args.batch_size, seed=0, rows=rows), indent=1))
    return rows


if __name__ == '__main__':
    main()
