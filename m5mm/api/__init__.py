"""Use a trained model: embed products, save / load / share model folders, search.

    from m5mm.api import ProductEncoder
    encoder = ProductEncoder.from_pretrained('models/scale_5mod')     # folder, checkpoint, work dir or org/name
    features, ids, present = encoder.encode(records)                 # manifest-like dicts, any modalities
    queries = encoder.encode_text(['red sneakers'])

See docs/inference.md.
"""
from .export import export_model
from .model_folder import ModelFolderError
from .product_encoder import Encoding, ProductEncoder
from .search import build_index, search

__all__ = ['Encoding', 'ModelFolderError', 'ProductEncoder', 'build_index', 'export_model', 'search']
