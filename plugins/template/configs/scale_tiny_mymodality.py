# SCALE at test size with the five built-in modalities and `mymodality`. TODO(plugin): rename.
#   python tools/train.py path/to/this/config.py --cfg-options data_root=DIR
# DIR: an m5mm manifest (manifest.jsonl) whose records have a `mymodality` field (a path relative to DIR).
#
# `m5mm::NAME` is m5mm's configs/NAME (next to the installed m5mm package, or in $M5MM_CONFIGS).
# The plugin is imported through its entry point once installed: no custom_imports needed.
_base_ = ['m5mm::scale_5mod_tiny.py']

_mymodality = dict(pipeline=[dict(type='LoadMySignal', max_length=64)], source='raw')
_dataset = dict(modalities=dict(mymodality=_mymodality))
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
# ScalePretrainer adds the modality's pretext objective (MaskedFeatureRegressionObjective, mfm_mymodality)
# to its default objectives.
model = dict(encoders=dict(
    mymodality=dict(type='MySignalEncoder', channels=3, patch_len=4, max_tokens=16, dim=32, depth=1,
                    num_heads=2)))
