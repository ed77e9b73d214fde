"""``python tools/make_demo_data.py`` in a clone, the ``m5mm-make-demo-data`` command once installed:
:mod:`m5mm.experiments.commands.make_demo_data`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.make_demo_data by code that has m5mm already
    pass
from m5mm.experiments.commands.make_demo_data import *  # noqa: F401,F403
from m5mm.experiments.commands.make_demo_data import main

if __name__ == '__main__':
    main()
