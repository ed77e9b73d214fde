# The demo catalogue read through the packaged real towers' own preprocessing (docs/pretrained.md, "Real towers
# from packages"): images and video frames as EfficientNet-Lite0 expects them, title and table with MiniLM's
# tokenizer; audio as in demo_5mod.py. pretrained_root is where tools/import_packaged_weights.py wrote them
# (--cfg-options pretrained_root=DIR moves every path below it).
_base_ = ['./demo_5mod.py']

pretrained_root = 'data/pretrained'
_image = f'{pretrained_root}/efficientnet_lite0'
_text = f'{pretrained_root}/all_minilm_l6_v2'

_modalities = dict(
    image=dict(pipeline=[dict(type='LoadImage', draft_size=256), dict(type='ProcessImage', pretrained=_image)]),
    video=dict(pipeline=[dict(type='ProcessVideoFrames', pretrained=_image, num_frames=8)]),
)
_dataset = dict(modalities=_modalities, tokenizer=dict(_delete_=True, path=_text))  # MiniLM's own tokenizer
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
