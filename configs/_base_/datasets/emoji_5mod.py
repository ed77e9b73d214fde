# The emoji catalogue (docs/emoji_data.md) with all five modalities read from raw media, generated on
# first use: real pictures (Noto Color Emoji), multilingual noisy titles, espeak-ng voice-overs.
# Needs Debian's fonts-noto-color-emoji, unicode-data and espeak-ng, and pip's emoji package.
# The pipelines are the demo catalogue's (64x64 images, 4 frames, 4 s of audio).
_base_ = ['./demo_5mod.py']

data_root = 'data/emoji'
generate_if_missing = dict(type='emoji', num_products=1000, seed=0)

train_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=generate_if_missing))
val_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=generate_if_missing))
test_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=generate_if_missing))
