# The emoji catalogue (docs/emoji_data.md: real pictures, multilingual noisy titles) read through the packaged
# real towers' own preprocessing, as configs/_base_/datasets/demo_5mod_packaged.py (generated on first use;
# needs Debian's fonts-noto-color-emoji, unicode-data and espeak-ng, see configs/_base_/datasets/emoji_5mod.py).
_base_ = ['./demo_5mod_packaged.py']

data_root = 'data/emoji'
_dataset = dict(data_root=data_root, generate_if_missing=dict(type='emoji', num_products=1000, seed=0))
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
