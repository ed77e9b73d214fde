# SCALE at test size on a small demo catalogue: seconds per epoch on a CPU. The test suite trains it;
# use it to smoke-test a new dataset:  python tools/train.py configs/scale_5mod_tiny.py --cfg-options data_root=DIR
_base_ = ['_base_/models/scale_tiny.py', '_base_/datasets/demo_5mod.py',
          '_base_/schedules/adamw_warmup_linear.py', '_base_/default_runtime.py']

data_root = 'data/demo_tiny'
_dataset = dict(data_root=data_root, generate_if_missing=dict(type='demo', num_products=80, seed=0),
                tokenizer=dict(vocab_size=500))
train_dataloader = dict(batch_size=8, num_workers=0, dataset=_dataset)
val_dataloader = dict(batch_size=16, num_workers=0, dataset=_dataset)
test_dataloader = dict(batch_size=16, num_workers=0, dataset=_dataset)
optim = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=2)
default_hooks = dict(metrics=dict(interval=1), progress=dict(disable=True), checkpoint=dict(max_keep=3))
log_with = None
