"""The bazaar catalogue's plan: deterministic, and the rates its design states."""
from collections import Counter

from m5mm.experiments.catalogues.bazaar import BAZAAR_CATEGORIES, plan_bazaar_dataset


def test_plan_is_deterministic_and_keeps_its_design_rates():
    records = plan_bazaar_dataset(num_products=3000, seed=1)
    assert [r.manifest_entry() for r in records] == [r.manifest_entry() for r in plan_bazaar_dataset(
        num_products=3000, seed=1)]
    assert len(records) == 3000 and len({r.id for r in records}) == 3000
    assert sum(len(r.modalities) < 5 for r in records) == 600                        # 20% incomplete
    missing = Counter(m for r in records for m in ('image', 'text', 'table', 'video', 'audio')
                      if m not in r.modalities)
    assert missing['video'] > 2 * missing['image'] and missing['audio'] > 2 * missing['table']
    counts = Counter(r.category for r in records)
    assert 15 < counts[0] / counts[len(BAZAAR_CATEGORIES) - 1] < 25                 # head / tail ~ 20
    eval_skus = {r.sku for r in records if r.split in ('query', 'gallery')}
    assert not eval_skus & {r.sku for r in records if r.split == 'train'}          # unseen products
    assert 0.1 < sum(bool(r.corrupted) for r in records) / 3000 < 0.5
