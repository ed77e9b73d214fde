"""The installed plugin is found through its entry point: no import or custom_imports needed."""
from __future__ import annotations

import configparser
import subprocess
import sys
from importlib import metadata

import m5mm_pointcloud
from m5mm.utils.plugins import ENTRY_POINT_GROUP, load_plugins
from pointcloud_test_utils import PLUGIN_ROOT

INSTALL_HINT = 'install the plugin first: pip install -e plugins/m5mm-pointcloud'

BUILD_FROM_REGISTRIES = '''
from m5mm.registry import DATASETS, ENCODERS, MODALITIES, TRANSFORMS
from m5mm.utils.inventory import format_plugins
import sys
assert 'm5mm_pointcloud' not in sys.modules
spec = MODALITIES.build(dict(type='pointcloud'))
encoder = ENCODERS.build(dict(type='PointCloudEncoder', num_groups=4, group_size=4, dim=16, depth=1,
                              num_heads=2))
print(type(spec).__module__, type(encoder).__module__, TRANSFORMS.get('LoadPointCloud').__module__,
      DATASETS.get('PointCloudDemoDataset').__name__)
print(format_plugins())
'''


def test_entry_point_is_installed():
    points = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == 'pointcloud']
    assert points, INSTALL_HINT
    assert points[0].value == 'm5mm_pointcloud'
    assert points[0].dist.metadata['Name'] == 'm5mm-pointcloud'
    assert points[0].dist.version == m5mm_pointcloud.__version__


def test_plugin_status_lists_what_it_registered():
    status = load_plugins(force=True).get('pointcloud')
    assert status is not None, INSTALL_HINT
    assert status.loaded and status.error is None and status.version == m5mm_pointcloud.__version__
    assert status.registered == {'dataset': ['PointCloudDemoDataset'], 'encoder': ['PointCloudEncoder'],
                                 'modality': ['pointcloud'], 'transform': ['LoadPointCloud']}


def test_a_fresh_process_builds_the_plugin_modules_from_config():
    run = subprocess.run([sys.executable, '-c', BUILD_FROM_REGISTRIES], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == ('m5mm_pointcloud.point_cloud_modality m5mm_pointcloud.point_cloud_encoder '
                        'm5mm_pointcloud.load_point_cloud PointCloudDemoDataset')
    assert f'pointcloud (m5mm-pointcloud {m5mm_pointcloud.__version__}): loaded from m5mm_pointcloud' in lines
    assert '  modality: pointcloud' in lines and '  encoder: PointCloudEncoder' in lines


def test_supported_m5mm_range_matches_install_requires():
    setup = configparser.ConfigParser()
    setup.read(PLUGIN_ROOT / 'setup.cfg')
    requires = setup['options']['install_requires'].split()
    assert f'm5mm{m5mm_pointcloud.M5MM_REQUIREMENT}' in requires
