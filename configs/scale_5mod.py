# SCALE pretraining on five modalities at the paper's architecture (configs/_base_/models/scale_paper.py),
# on the demo catalogue (generated in data/demo on first use): 8 epochs, about 10 minutes on a 2-core CPU.
#   python tools/train.py configs/scale_5mod.py
#   python tools/train.py configs/scale_5mod.py --cfg-options data_root=/path/to/catalogue
_base_ = ['_base_/models/scale_paper.py', '_base_/datasets/demo_5mod.py',
          '_base_/schedules/adamw_warmup_linear.py', '_base_/default_runtime.py']

# paper-like sequence lengths: 36 image patches (96 px), 12 video frames of 32 px. The encoders take
# these sizes from the pipelines (written only here); the video encoder holds max_frames positions.
_media = dict(image=dict(pipeline=[dict(type='LoadImage', draft_size=96), dict(type='ResizeImage', size=96),
                                   dict(type='NormalizeImage')]),
              video=dict(pipeline=[dict(type='SampleVideoFrames', num_frames={{_base_.model.encoders.video.max_frames}},
                                        size=32)]))
train_dataloader = dict(batch_size=32, dataset=dict(modalities=_media))
val_dataloader = dict(dataset=dict(modalities=_media))
test_dataloader = dict(dataset=dict(modalities=_media))
train_cfg = dict(max_epochs=8)
