# SCALE on five pretrained towers, as users typically run it on GPUs: image and video through the CLIP ViT-B/16
# vision tower (frozen; video: one token per frame + temporal layers), audio through wav2vec2 (frozen, 12 s), title
# and table through XLM-R (multilingual: M5Product's titles are Chinese) with LoRA adapters. Only the towers'
# trainable parts, the adapters, the fusion and the heads train; checkpoints hold just those.
#
# Fetch the models once (needs the Hugging Face hub) into pretrained_root, then train offline:
#   python tools/fetch_pretrained.py configs/scale_5mod_pretrained.py
#   python tools/train.py configs/scale_5mod_pretrained.py --cfg-options data_root=/path/to/catalogue
# The frozen image/video/audio towers can run once instead of every epoch (docs/pretrained.md):
#   python tools/cache_features.py configs/scale_5mod_pretrained.py --out /path/to/catalogue/features
# Other models: change an id below (any family docs/pretrained.md lists) and fetch again.
_base_ = ['_base_/models/scale_paper.py', '_base_/datasets/demo_5mod.py',
          '_base_/schedules/adamw_warmup_linear.py', '_base_/default_runtime.py']

pretrained_models = dict(image='openai/clip-vit-base-patch16',   # also the per-frame video tower
                         text='FacebookAI/xlm-roberta-base',      # title and table (shared)
                         audio='facebook/wav2vec2-base')
pretrained_root = 'pretrained'  # fetched here; --cfg-options pretrained_root=DIR reads them from DIR
_image = f'{pretrained_root}/image'
_text = f'{pretrained_root}/text'
_audio = f'{pretrained_root}/audio'

_tail = dict(dim=768, depth=2, num_heads=12)  # trainable layers on top of each frozen tower
model = dict(encoders=dict(
    image=dict(_delete_=True, type='PretrainedImageEncoder', pretrained=_image, freeze=True, **_tail),
    text=dict(_delete_=True, type='PretrainedTextEncoder', pretrained=_text,
              lora=dict(r=16, alpha=32, dropout=0.05)),
    table=dict(_delete_=True, type='PretrainedTableEncoder'),  # shares the text tower's XLM-R and adapters
    video=dict(_delete_=True, type='PretrainedVideoEncoder', pretrained=_image, freeze=True, frame_pool='cls',
               **_tail),
    audio=dict(_delete_=True, type='PretrainedAudioEncoder', pretrained=_audio, freeze=True, token_pool=8,
               **_tail),  # 50 tokens/s pooled to 6.25/s: 75 tokens for 12 s
))

_modalities = dict(
    image=dict(pipeline=[dict(type='LoadImage', draft_size=256), dict(type='ProcessImage', pretrained=_image)]),
    text=dict(pipeline=[dict(type='TokenizeText', max_length=36)]),
    table=dict(pipeline=[dict(type='TokenizeTable', max_length=64)]),
    video=dict(pipeline=[dict(type='ProcessVideoFrames', pretrained=_image, num_frames=12)]),  # the paper: 12
    audio=dict(pipeline=[dict(type='ProcessAudio', pretrained=_audio, max_duration=12.0)]),     # the paper: 12 s
)
_dataset = dict(modalities=_modalities, tokenizer=dict(_delete_=True, path=_text))  # XLM-R's own tokenizer
train_dataloader = dict(batch_size=64, num_workers=8, dataset=_dataset)
val_dataloader = dict(num_workers=8, dataset=_dataset)
test_dataloader = dict(num_workers=8, dataset=_dataset)
optim = dict(optimizer=dict(lr=1e-4))  # LoRA adapters and new layers at 1e-4; unfrozen pretrained weights 0.1x
train_cfg = dict(max_epochs=10)
