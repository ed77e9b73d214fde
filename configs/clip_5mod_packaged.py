# CLIP-style two-tower (late fusion) training on the same real packaged towers as configs/scale_5mod_packaged.py:
# each tower's pooled vector through a projection head, the all-pairs contrastive loss with a learnable
# temperature and the same relational distillation term as SCALE's, no fusion layers (`joint`: the centred mean
# of the projected vectors, as SCALE's), no harmonizer, no masked losses. The benchmark's "CLIP (real towers),
# T+I" row restricts it to title + image (docs/benchmark.md).
#   python tools/import_packaged_weights.py --out data/pretrained
#   python tools/train.py configs/clip_5mod_packaged.py --cfg-options "model.modalities=[text,image]"
_base_ = ['scale_5mod_packaged.py']

model = dict(
    type='MultiModalPretrainer',
    fusion=dict(_delete_=True, type='LateFusion', dim=256),  # the towers' widths differ (MiniLM 384, tails 256)
    harmonizer=None,
    neck=dict(importance=False),   # the same product vector as SCALE's, without a harmonizer to weigh it
    objectives=dict(_delete_=True, con=dict(type='InterModalityContrastiveObjective', learnable_temperature=True),
                    rkd=dict(type='RelationalDistillationObjective', loss_weight=10.0)),   # as SCALE's
)
