"""m5mm-mymodality: TODO(plugin) what the modality is.

Importing the package registers its modules into m5mm's registries; m5mm does it through the
``m5mm.plugins`` entry point in setup.cfg. Check the m5mm version first, so that an
incompatible m5mm gives a clear "failed plugin" message instead of a crash later.
"""
from m5mm.utils.plugins import require_m5mm

from .version import M5MM_REQUIREMENT, __version__

require_m5mm(M5MM_REQUIREMENT, plugin='m5mm-mymodality')  # TODO(plugin): your distribution name

from .load_my_signal import LoadMySignal  # noqa: E402
from .my_modality import MyModality  # noqa: E402
from .my_signal_encoder import MySignalEncoder  # noqa: E402

__all__ = ['LoadMySignal', 'M5MM_REQUIREMENT', 'MyModality', 'MySignalEncoder', '__version__']
