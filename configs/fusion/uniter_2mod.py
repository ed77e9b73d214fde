# Fusion benchmark: single-stream fusion, masked losses + matching (UNITER style),
# titles + images of the demo catalogue. Parameter budget: docs/fusion_methods.md.
#   python tools/train.py configs/fusion/uniter_2mod.py
_base_ = ['../_base_/models/uniter.py', '../_base_/datasets/demo_2mod.py',
          '../_base_/schedules/adamw_warmup_linear.py', '../_base_/default_runtime.py']
model = dict(modalities=['image', 'text'])  # the objectives of the other modalities are dropped
