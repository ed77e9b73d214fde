"""``python tools/import_packaged_weights.py`` in a clone, the ``m5mm-import-packaged-weights`` command once installed:
:mod:`m5mm.commands.import_packaged_weights`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.import_packaged_weights by code that has m5mm already
    pass
from m5mm.commands.import_packaged_weights import *  # noqa: F401,F403
from m5mm.commands.import_packaged_weights import main

if __name__ == '__main__':
    main()
