# SCALE on five pretrained towers at test size: tiny random models of the supported families, so the whole
# pretrained path (hub-style loading, preprocessing from each model's processor files, freezing, LoRA, feature
# caching) runs offline in seconds. The test suite trains it. Write the models once, then train:
#   python tools/make_tiny_pretrained.py --out data/tiny_pretrained
#   python tools/train.py configs/scale_5mod_pretrained_tiny.py --cfg-options pretrained_root=DIR data_root=DIR
# Image and video: a CLIP vision tower and VideoMAE, frozen; audio: wav2vec2, frozen; title and table: XLM-R
# (multilingual tokenizer, Chinese titles work) with LoRA adapters. configs/scale_5mod_pretrained.py is the
# same recipe with real models.
_base_ = ['./scale_5mod_tiny.py']

pretrained_root = 'data/tiny_pretrained'
_image = f'{pretrained_root}/clip'
_video = f'{pretrained_root}/videomae'
_audio = f'{pretrained_root}/wav2vec2'
_text = f'{pretrained_root}/xlmr'

_tail = dict(dim=32, depth=1, num_heads=2)  # the trainable part on top of each frozen tower
model = dict(encoders=dict(
    image=dict(_delete_=True, type='PretrainedImageEncoder', pretrained=_image, freeze=True, **_tail),
    text=dict(_delete_=True, type='PretrainedTextEncoder', pretrained=_text, lora=dict(r=4, alpha=8)),
    table=dict(_delete_=True, type='PretrainedTableEncoder'),  # shares the text tower (share_text_table)
    video=dict(_delete_=True, type='PretrainedVideoEncoder', pretrained=_video, freeze=True, **_tail),
    audio=dict(_delete_=True, type='PretrainedAudioEncoder', pretrained=_audio, freeze=True, **_tail),
))

_modalities = dict(
    image=dict(pipeline=[dict(type='LoadImage', draft_size=64), dict(type='ProcessImage', pretrained=_image)]),
    video=dict(pipeline=[dict(type='ProcessVideoFrames', pretrained=_video)]),
    audio=dict(pipeline=[dict(type='ProcessAudio', pretrained=_audio, max_duration=4.0)]),
)
_dataset = dict(modalities=_modalities, tokenizer=dict(_delete_=True, path=_text))  # the model's own tokenizer
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
