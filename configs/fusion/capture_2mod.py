# Fusion benchmark: hybrid fusion, contrastive + masked losses (CAPTURE style),
# titles + images of the demo catalogue. Parameter budget: docs/fusion_methods.md.
#   python tools/train.py configs/fusion/capture_2mod.py
_base_ = ['../_base_/models/capture.py', '../_base_/datasets/demo_2mod.py',
          '../_base_/schedules/adamw_warmup_linear.py', '../_base_/default_runtime.py']
# two per-modality blocks instead of five: 2 cross-modal layers with the usual 4x feed-forward keep
# SCALE's parameter budget
model = dict(modalities=['image', 'text'], fusion=dict(depth=2, mlp_ratio=4.0))
