# SCALE on five modalities at width 256 / depth 2 (configs/_base_/models/scale_small.py): the README's quick
# start on the demo catalogue (a few minutes on a 2-core CPU, see docs/benchmarks.md), for trying ideas before
# the paper-size configs/scale_5mod.py.
_base_ = ['_base_/models/scale_small.py', '_base_/datasets/demo_5mod.py',
          '_base_/schedules/adamw_warmup_linear.py', '_base_/default_runtime.py']

optim = dict(optimizer=dict(lr=3e-4))
train_cfg = dict(max_epochs=10)
