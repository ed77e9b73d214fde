"""A test plugin: the product's long free-text ``description`` as a modality, and an extra objective.

Importing it registers (nothing in m5mm is edited):

* ``MODALITIES``: ``description`` (:class:`DescriptionModality`): token ids of the manifest's
  ``description`` field. Its spec declares no pretext task: having token ids, it gets masked token
  modelling (``mlm_description``) in ``ScalePretrainer``'s default objectives;
* ``OBJECTIVES``: :class:`ModalityPresenceObjective`, a new objective in one class.

The encoder is m5mm's ``TextBertEncoder``, named in the config.
"""
from .description_modality import DescriptionModality
from .modality_presence_objective import ModalityPresenceObjective

__all__ = ['DescriptionModality', 'ModalityPresenceObjective']
