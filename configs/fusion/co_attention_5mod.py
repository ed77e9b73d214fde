# Fusion benchmark: N-stream co-attention fusion, masked losses + matching (ViLBERT / LXMERT style),
# five modalities of the demo catalogue. Parameter budget: docs/fusion_methods.md.
#   python tools/train.py configs/fusion/co_attention_5mod.py
_base_ = ['../_base_/models/co_attention.py', '../_base_/datasets/demo_5mod.py',
          '../_base_/schedules/adamw_warmup_linear.py', '../_base_/default_runtime.py']
