"""Deploying a trained model: ONNX graphs of its towers and fusion, and an onnxruntime backend."""
from .onnx_backbone import OnnxBackbone
from .onnx_export import export_onnx
from .onnx_folder import OnnxFolderError

__all__ = ['OnnxBackbone', 'OnnxFolderError', 'export_onnx']
