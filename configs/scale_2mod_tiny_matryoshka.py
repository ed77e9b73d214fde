# The Matryoshka objective on the joint vector at CPU-test size: the tiny SCALE towers on titles and images
# (demo_2mod) under a width-256 fusion, trained with SCALE's objectives for the two modalities plus
# MatryoshkaObjective: subset consistency (a product's joint vector against that of a random subset of its
# modalities) on the nested prefixes 32/64/128/256, so the vectors can be stored cut to any of them
# (docs/inference.md, "Compress"). model.objectives.mrl.dims=[256] gives the same run at full width only
# (the baseline of the Matryoshka table). On another config, add the `mrl` entry to its objectives.
_base_ = ['_base_/models/scale_tiny.py', '_base_/datasets/demo_2mod.py',
          '_base_/schedules/adamw_warmup_linear.py', '_base_/default_runtime.py']

model = dict(
    modalities=['image', 'text'],
    fusion=dict(dim=256, num_heads=4),
    objectives=dict(
        con=dict(type='InterModalityContrastiveObjective'),
        mfm_image=dict(type='MaskedFeatureRegressionObjective', modality='image'),
        mlm=dict(type='MaskedLanguageModelObjective', modality='text'),
        mrl=dict(type='MatryoshkaObjective', dims=[32, 64, 128, 256]),
    ))
_dataset = dict(tokenizer=dict(vocab_size=1000))
train_dataloader = dict(batch_size=16, num_workers=0, dataset=_dataset)
val_dataloader = dict(batch_size=32, num_workers=0, dataset=_dataset)
test_dataloader = dict(batch_size=32, num_workers=0, dataset=_dataset)
optim = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=2)
precision = 'no'  # fp32: bf16 on a CPU without native support is slower
log_with = None
