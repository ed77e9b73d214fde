"""The bazaar catalogue: a second synthetic catalogue whose design differs from the demo's.

Used to check that a finding on the demo catalogue is not an artefact of its design (see
docs/demo_data.md, "A second catalogue"); it is kept out of the tests' tuning loop.
"""
from .design import BAZAAR_CATEGORIES
from .generate import make_bazaar_dataset, plan_bazaar_dataset

__all__ = ['BAZAAR_CATEGORIES', 'make_bazaar_dataset', 'plan_bazaar_dataset']
