# SCALE pretraining on six modalities at the paper's architecture: m5mm's configs/scale_5mod.py (768-wide
# towers of 6 layers, a 6-layer fusion transformer, 1024-d contrastive projection) plus a point-cloud tower
# of the same size, on the demo catalogue with point clouds (generated in data/demo_pointcloud on first use).
#   python tools/train.py plugins/m5mm-pointcloud/configs/scale_6mod.py
#   python tools/train.py plugins/m5mm-pointcloud/configs/scale_6mod.py --cfg-options data_root=DIR
# See scale_6mod_tiny.py for how `_base_` finds m5mm's configs.
_base_ = ['m5mm::scale_5mod.py']

data_root = 'data/demo_pointcloud'
# 1024 points in 64 farthest-point patches of 32 neighbours (Point-MAE's tokenisation of ShapeNet clouds)
_pointcloud = dict(pipeline=[dict(type='LoadPointCloud', num_points=1024)], source='raw')
_dataset = dict(type='PointCloudDemoDataset', data_root=data_root, modalities=dict(pointcloud=_pointcloud),
                pointclouds=dict(seed=0))
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)

model = dict(encoders=dict(
    pointcloud=dict(type='PointCloudEncoder', num_groups=64, group_size=32, hidden_dim=128, dim=768, depth=6,
                    num_heads=12)))
