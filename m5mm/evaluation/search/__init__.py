"""Product search over exported features: FAISS indexes or m5mm's exact torch search."""
from .commands import build_index_from_features, format_search_result, query_index, query_vectors
from .faiss_index import FaissIndex
from .index_files import IndexFolderError
from .search_index import SearchIndex, SearchResult
from .torch_exact_index import TorchExactIndex

__all__ = ['FaissIndex', 'IndexFolderError', 'SearchIndex', 'SearchResult', 'TorchExactIndex',
           'build_index_from_features', 'format_search_result', 'query_index', 'query_vectors']
