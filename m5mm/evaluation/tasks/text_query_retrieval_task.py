"""Text query -> product retrieval with graded relevance (nDCG@K, MRR) from a query file."""
from __future__ import annotations


from m5mm.datasets.query_file import load_query_file
from m5mm.registry import TASKS

from ..metrics.graded_retrieval import graded_retrieval_metrics, relevance_rows
from .split_access import FeaturesBySplit, get_split
from .task_result import TaskResult


@TASKS.register_module()
class TextQueryRetrievalTask:
    """Rank the gallery for each query of a query file: nDCG@k and MRR.

    ``task(features_by_split) -> {'text_retrieval': {'nDCG@10': .., 'MRR': ..}}``.

    The ``query_split`` holds the queries' text embeddings, one row per query with the query id
    in ``ids`` (``m5mm.evaluation.text_queries`` embeds them); grades are read from ``query_file``
    (format: :mod:`m5mm.datasets.query_file`). Queries with no relevant gallery product are
    skipped and counted, as are judged ids that are not in the gallery.

    Args:
        query_file: the query file. query_split, gallery_split: split names.
        k: nDCG cut-off. gain: 'exponential' (2^rel - 1) or 'linear'. similarity: 'dot' or 'cosine'.
        name: the result name (another one lets a second instance rank another gallery split).
    """

    #: what ``tools/test.py --tasks`` and ``EvaluationHook`` call it, the test-data splits it reads, and the
    #: feature sets it scores (:data:`m5mm.evaluation.evaluate.INPUTS`)
    task_name = 'text_retrieval'
    data_splits = ('gallery',)
    inputs = ('test', 'text_queries')

    def __init__(self, *, query_file: str, query_split: str = 'text_queries', gallery_split: str = 'gallery',
                 k: int = 10, gain: str = 'exponential', similarity: str = 'dot',
                 name: str = 'text_retrieval') -> None:
        self.query_file = query_file
        self.name = name
        self.query_split = query_split
        self.gallery_split = gallery_split
        self.kwargs = dict(k=k, gain=gain, similarity=similarity)

    def __call__(self, features_by_split: FeaturesBySplit) -> TaskResult:
        """Score every query's ranking of the gallery."""
        queries = {q['id']: q for q in load_query_file(self.query_file)}
        data = get_split(features_by_split, self.query_split)
        gallery = get_split(features_by_split, self.gallery_split)
        unknown = [qid for qid in data['ids'] if qid not in queries]
        if unknown:
            raise KeyError(f'split {self.query_split!r} has queries {unknown[:5]} that {self.query_file} lacks')
        rows, extra = relevance_rows([queries[qid]['relevance'] for qid in data['ids']], gallery['ids'])
        out, counts = graded_retrieval_metrics(data['features'], gallery['features'], rows, return_counts=True,
                                               **self.kwargs)
        return TaskResult({self.name: out}, dict(counts, **extra))
