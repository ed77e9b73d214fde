# Classification fine-tuning at test size: configs/scale_5mod_tiny.py's model + a small classification head
# (no dropout, deterministic). The test suite fine-tunes it for a few steps; see scale_cls_5mod.py for usage.
_base_ = ['../scale_5mod_tiny.py']

model = dict(
    _delete_=True,
    type='MultiModalClassifier',
    backbone={{_base_.model}},
    head=dict(type='ClassificationHead', hidden_dim=64, dropout=0.0),
    init_from=None)
default_hooks = dict(
    modality_weights=None,   # the classifier's loss has no modality weights
    evaluation=dict(tasks=('classification',)),  # the head's accuracy on query + gallery
)
