# Fusion benchmark: late fusion, contrastive loss only (CLIP style),
# titles + images of the demo catalogue. Parameter budget: docs/fusion_methods.md.
#   python tools/train.py configs/fusion/clip_2mod.py
_base_ = ['../_base_/models/clip.py', '../_base_/datasets/demo_2mod.py',
          '../_base_/schedules/adamw_warmup_linear.py', '../_base_/default_runtime.py']
model = dict(modalities=['image', 'text'])
