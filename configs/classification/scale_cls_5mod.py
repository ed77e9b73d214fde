# Classification fine-tuning of SCALE (docs/method.md section 4): the pretrained encoders + fusion of
# configs/scale_5mod.py and the paper's head (the 5 fused first-token vectors -> Linear -> 1024 ->
# dropout 0.1 -> Linear -> categories), cross-entropy on the train split's categories. Fine-tune a
# pretraining run (its latest checkpoint; pretrained weights get 0.1x the lr via pretrained_lr_mult):
#   python tools/train.py configs/scale_5mod.py
#   python tools/train.py configs/classification/scale_cls_5mod.py \
#       --cfg-options model.init_from=work_dirs/scale_5mod
#   python tools/test.py configs/classification/scale_cls_5mod.py work_dirs/scale_cls_5mod \
#       --tasks classification
# Without init_from the backbone trains from scratch. See docs/classification.md.
_base_ = ['../scale_5mod.py']

model = dict(
    _delete_=True,
    type='MultiModalClassifier',
    backbone={{_base_.model}},
    head=dict(type='ClassificationHead', hidden_dim=1024, dropout=0.1),
    init_from=None)
train_cfg = dict(max_epochs=5)
default_hooks = dict(
    modality_weights=None,   # the classifier's loss has no modality weights
    evaluation=dict(tasks=('classification',)),  # the head's accuracy on query + gallery
)
