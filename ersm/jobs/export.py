"""The job behind ``ersm masks``: a trained run's learned and solved masks as one ``.npz``.

See :func:`export_masks`.
"""

from __future__ import annotations

from ..train.masks import MASK_KEYS, export_masks

__all__ = ["MASK_KEYS", "export_masks"]
