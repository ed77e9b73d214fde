# SCALE on real pretrained towers that install offline as Python packages (docs/pretrained.md, "Real towers
# from packages"): image and video through ImageNet EfficientNet-Lite0 (frozen; video: the same model on every
# frame, then trainable temporal layers), title and table through all-MiniLM-L6-v2 with LoRA adapters, audio
# through the from-scratch AudioMelEncoder (no packaged audio model fits). Fusion and heads at the small width.
#
# Write the model folders once (no hub, no pickles), then train:
#   python tools/import_packaged_weights.py --out data/pretrained
#   python tools/train.py configs/scale_5mod_packaged.py --cfg-options data_root=/path/to/catalogue
# The frozen image / video towers can run once instead of every epoch:
#   python tools/cache_features.py configs/scale_5mod_packaged.py --out /path/to/catalogue/features
_base_ = ['_base_/models/scale_small.py', '_base_/datasets/demo_5mod_packaged.py',
          '_base_/schedules/adamw_warmup_linear.py', '_base_/default_runtime.py']

pretrained_root = 'data/pretrained'  # as in the dataset base (towers and pipelines read the same folders)
_image = f'{pretrained_root}/efficientnet_lite0'
_text = f'{pretrained_root}/all_minilm_l6_v2'

_tail = dict(dim=256, depth=1, num_heads=4)  # trainable layers on top of each frozen tower
model = dict(encoders=dict(
    image=dict(_delete_=True, type='PretrainedImageEncoder', pretrained=_image, freeze=True, **_tail),
    # a CNN has no class token: each frame is the mean of its 49 tokens
    video=dict(_delete_=True, type='PretrainedVideoEncoder', pretrained=_image, freeze=True, frame_pool='mean',
               **_tail),
    text=dict(_delete_=True, type='PretrainedTextEncoder', pretrained=_text, lora=dict(r=8, alpha=16)),
    table=dict(_delete_=True, type='PretrainedTableEncoder'),  # shares the text tower and its adapters
))

optim = dict(optimizer=dict(lr=3e-4))
train_cfg = dict(max_epochs=10)
