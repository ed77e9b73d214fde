"""m5mm: multi-modal pretraining on product catalogues (SCALE and the M5Product benchmark)."""
from .third_party_logs import quiet_deepspeed_cpu_notice
from .version import __version__

quiet_deepspeed_cpu_notice()   # before accelerate imports DeepSpeed

__all__ = ['__version__']
