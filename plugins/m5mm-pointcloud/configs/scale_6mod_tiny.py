# SCALE at test size on six modalities: m5mm's tiny five-modality config plus the product's 3D shape
# as a point cloud (this plugin). The plugin's tests train it; on a fresh data root the demo catalogue
# and its point clouds are generated first:
#   python tools/train.py plugins/m5mm-pointcloud/configs/scale_6mod_tiny.py
#   python tools/train.py plugins/m5mm-pointcloud/configs/scale_6mod_tiny.py --cfg-options data_root=DIR
# (DIR: a catalogue with point clouds, e.g. from `python -m m5mm_pointcloud.make_demo DIR`).
#
# `_base_` names m5mm's own config as `m5mm::NAME` (mmengine's package syntax): m5mm resolves it to its
# configs/ folder next to the installed m5mm package (or $M5MM_CONFIGS), so this file works wherever the
# plugin is installed. The plugin's modules are registered through its `m5mm.plugins` entry point: no
# custom_imports needed once it is pip-installed.
_base_ = ['m5mm::scale_5mod_tiny.py']

data_root = 'data/demo_tiny_pointcloud'
_pointcloud = dict(pipeline=[dict(type='LoadPointCloud', num_points=256)], source='raw')
_dataset = dict(type='PointCloudDemoDataset', data_root=data_root, modalities=dict(pointcloud=_pointcloud),
                pointclouds=dict(seed=0))
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)

# ScalePretrainer's default objectives add the point cloud's pretext task, MaskedFeatureRegressionObjective
# (mfm_pointcloud, from the spec: a continuous modality),
# and the harmonizer, fusion and contrastive loss take the sixth modality as they are.
model = dict(encoders=dict(
    pointcloud=dict(type='PointCloudEncoder', num_groups=16, group_size=16, hidden_dim=32, dim=32, depth=1,
                    num_heads=2)))
