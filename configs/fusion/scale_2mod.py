# Fusion benchmark: SCALE (cosine-graph harmonizer, contrastive + masked losses, single-stream fusion),
# titles + images of the demo catalogue. Parameter budget: docs/fusion_methods.md.
#   python tools/train.py configs/fusion/scale_2mod.py
_base_ = ['../_base_/models/scale_small.py', '../_base_/datasets/demo_2mod.py',
          '../_base_/schedules/adamw_warmup_linear.py', '../_base_/default_runtime.py']
model = dict(modalities=['image', 'text'])  # SCALE's objectives follow the modalities
