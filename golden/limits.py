"""The parameter limits of memornn, in one table.

Every command refuses a value beyond these with a one-line error naming the value and
the limit. They bound what one run may allocate or start, so that a typo or a hostile
file fails at once instead of exhausting the machine. The README's "Limits" section
lists the same table; ``tests/robust/test_limits.py`` checks that the modules that
enforce each limit use these values.

=========================  ==============  ===============================================
name                       value           what it bounds
=========================  ==============  ===============================================
MAX_LAYERS                 64              layers of a quantized model
MAX_HIDDEN                 65536           hidden size of a quantized model
MAX_FEATURES               65536           input features of a quantized model
MAX_SEQ_LEN                65536           ``max_seq_len`` of a hardware configuration
MAX_WORKERS                64              ``golden --workers`` (processes)
MAX_THRESHOLDS             1000            thresholds in one ``sweep --thresholds``
MAX_ARRAY_BYTES            1 GiB           one array in an ``.npy`` or ``.npz`` file
MAX_ARCHIVE_BYTES          2 GiB           all arrays of one ``.npz`` file together
MAX_ARCHIVE_MEMBERS        4096            arrays in one ``.npz`` file
MAX_TEXT_BYTES             1 MiB           a text input (``hw.toml``)
=========================  ==============  ===============================================

Array sizes are read from the ``.npy`` headers (and the zip directory of an ``.npz``)
and checked before anything is allocated or decompressed.
"""

from __future__ import annotations

MAX_LAYERS = 64
MAX_HIDDEN = 2**16
MAX_FEATURES = 2**16
MAX_SEQ_LEN = 2**16
MAX_WORKERS = 64
MAX_THRESHOLDS = 1000
MAX_ARRAY_BYTES = 2**30
MAX_ARCHIVE_BYTES = 2**31
MAX_ARCHIVE_MEMBERS = 4096
MAX_TEXT_BYTES = 2**20


def size_text(nbytes: int) -> str:
    """``nbytes`` for a message: ``"1 GiB"``, ``"224 GiB"``, ``"3.5 MiB"``, ``"12 bytes"``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.4g} {unit}"
    return f"{nbytes} bytes"
