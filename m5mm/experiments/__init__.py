"""Experiment code, kept apart from the library as ``open_clip_train`` is from ``open_clip``.

- :mod:`m5mm.experiments.paper_tables`: the paper's comparison tables (``tools/benchmark.py``);
- :mod:`m5mm.experiments.catalogues`: synthetic catalogues of real media files (``demo``, ``bazaar``, ``emoji``);
- :mod:`m5mm.experiments.tiny_pretrained`: tiny random models of the pretrained families, for tests.

Nothing in the rest of ``m5mm`` imports this package (``tests/test_layout.py`` checks it): a model
user's ``import m5mm`` never loads it. A dataset reaches a catalogue generator only by name, through
the ``CATALOGUES`` registry (``generate_if_missing=dict(type='demo', ...)``).
"""
