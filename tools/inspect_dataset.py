"""``python tools/inspect_dataset.py`` in a clone, the ``m5mm-inspect-dataset`` command once installed:
:mod:`m5mm.commands.inspect_dataset`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.inspect_dataset by code that has m5mm already
    pass
from m5mm.commands.inspect_dataset import *  # noqa: F401,F403
from m5mm.commands.inspect_dataset import main

if __name__ == '__main__':
    main()
