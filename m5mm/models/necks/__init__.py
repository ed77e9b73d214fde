"""Joint necks (NECKS registry): how a backbone forms the product vector ``joint`` from a step's context."""
from .aligned_joint_neck import AlignedJointNeck
from .base_joint_neck import BaseJointNeck
from .centred_joint_neck import CentredJointNeck
from .fusion_joint_neck import FusionJointNeck
from .importance_joint_neck import ImportanceJointNeck
from .running_centre import RunningCentre

__all__ = ['AlignedJointNeck', 'BaseJointNeck', 'CentredJointNeck', 'FusionJointNeck', 'ImportanceJointNeck',
           'RunningCentre']
