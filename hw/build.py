"""One way to build a design: :func:`build_design`.

``memornn generate``, synthesis, the amaranth.sim, Icarus and Verilator simulators and
the benchmarks all build through it, from a :class:`~memornn.hw.spec.BuildSpec`, so a
design is checked the same way wherever it is made.
"""

from __future__ import annotations

from ..golden.errors import MemornnError
from .spec import BuildSpec, check_images
from .top import Accelerator, make_core


def build_design(spec: BuildSpec, images: dict | None = None, core_only: bool = False):
    """The design of ``spec``: the AXI top level, or with ``core_only`` the bare core.

    Parameters
    ----------
    spec : BuildSpec
    images : dict or None
        Memory initial contents (:func:`memornn.hw.layout.memory_images`); ``None``
        leaves them zero, to load at run time.
    core_only : bool
        Return the :class:`~memornn.hw.core.MemoCore` driven directly (amaranth.sim's
        fast path) instead of the :class:`~memornn.hw.top.Accelerator`.

    Returns
    -------
    Accelerator or MemoCore
        (a :class:`~memornn.hw.delta_core.DeltaCore` for ``skip = "delta"``)
    """
    if not isinstance(spec, BuildSpec):
        raise MemornnError(f"spec must be a BuildSpec, got {spec!r}")
    check_images(images)
    if core_only:
        return make_core(spec, images)
    return Accelerator(spec, images)
