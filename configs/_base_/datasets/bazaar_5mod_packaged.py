# The bazaar catalogue (docs/demo_data.md, "A second catalogue: bazaar") read through the packaged real towers'
# own preprocessing, as configs/_base_/datasets/demo_5mod_packaged.py (generated on first use: 600 records).
_base_ = ['./demo_5mod_packaged.py']

data_root = 'data/bazaar'
_dataset = dict(data_root=data_root, generate_if_missing=dict(type='bazaar', num_products=600, seed=0))
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
