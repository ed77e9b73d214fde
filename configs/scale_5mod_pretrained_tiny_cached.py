# configs/scale_5mod_pretrained_tiny.py trained on cached outputs of its frozen image, video and audio towers:
# the same model (each tower reads `feats` and skips its backbone), the paper's recipe of pre-extracted features
# with the user's choice of model. Cache once, then train:
#   python tools/cache_features.py configs/scale_5mod_pretrained_tiny.py --out DATA_ROOT/features --cfg-options ...
#   python tools/train.py configs/scale_5mod_pretrained_tiny_cached.py --cfg-options pretrained_root=DIR data_root=DIR
# LoadCachedFeature refuses features made by another model than the configured one.
_base_ = ['./scale_5mod_pretrained_tiny.py']

pretrained_root = 'data/tiny_pretrained'  # as in the base (a config cannot read its base's variables)
feature_dir = 'features'  # inside the data root, as written by tools/cache_features.py --out DATA_ROOT/features
_cached = {m: dict(source='feature', pipeline=[dict(type='LoadCachedFeature', pretrained=p)])
           for m, p in dict(image=f'{pretrained_root}/clip', video=f'{pretrained_root}/videomae',
                            audio=f'{pretrained_root}/wav2vec2').items()}
_dataset = dict(manifest=f'{feature_dir}/manifest.jsonl', modalities=_cached)
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
