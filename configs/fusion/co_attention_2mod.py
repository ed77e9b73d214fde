# Fusion benchmark: N-stream co-attention fusion, masked losses + matching (ViLBERT / LXMERT style),
# titles + images of the demo catalogue. Parameter budget: docs/fusion_methods.md.
#   python tools/train.py configs/fusion/co_attention_2mod.py
_base_ = ['../_base_/models/co_attention.py', '../_base_/datasets/demo_2mod.py',
          '../_base_/schedules/adamw_warmup_linear.py', '../_base_/default_runtime.py']
# two streams instead of five: the towers keep SCALE's two layers within its parameter budget
model = dict(modalities=['image', 'text'], encoders=dict(image=dict(depth=2), text=dict(num_layers=2)))
