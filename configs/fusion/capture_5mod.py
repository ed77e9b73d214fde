# Fusion benchmark: hybrid fusion, contrastive + masked losses (CAPTURE style),
# five modalities of the demo catalogue. Parameter budget: docs/fusion_methods.md.
#   python tools/train.py configs/fusion/capture_5mod.py
_base_ = ['../_base_/models/capture.py', '../_base_/datasets/demo_5mod.py',
          '../_base_/schedules/adamw_warmup_linear.py', '../_base_/default_runtime.py']
