# CLIP-style late fusion on SCALE's small towers: independent towers trained only with the all-pairs
# contrastive loss (learnable temperature) through a projection head; no fusion layers (LateFusion
# has no parameters: `joint` is the mean of the towers' normalised vectors). For SCALE's parameter
# budget the image, text (and table) and audio towers get one more layer each.
_base_ = './scale_small.py'
model = dict(
    type='MultiModalPretrainer',
    encoders=dict(image=dict(depth=3), text=dict(num_layers=3), audio=dict(depth=3)),
    fusion=dict(_delete_=True, type='LateFusion'),
    harmonizer=None,
    objectives=dict(con=dict(type='InterModalityContrastiveObjective', learnable_temperature=True)),
)
