"""What the design should map to: its multipliers and memories, from Yosys' view of it.

The analysis script (:func:`memornn.hw.synth.yosys.analysis_script`) flattens the design,
narrows every operator (``wreduce``) and collects memories, then writes the ``$mul`` and
``$mem_v2`` cells to JSON; :func:`read_inventory` turns that into :class:`Multiplier` and
:class:`MemoryInfo` records, which the report sets against what synthesis produced.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

#: Multiplier roles, by the Amaranth block (hierarchy level) they sit in.
ROLES = {"mac": "MAC lane", "requantizer": "requantizer", "cell": "cell update", "decision": "reuse decision"}


@dataclass(frozen=True)
class Multiplier:
    """One ``$mul`` of the design after width reduction."""

    name: str
    role: str
    a_width: int
    b_width: int
    y_width: int
    signed: bool
    src: str

    def dsp_blocks(self, shape: tuple | None, min_y: int = 0) -> int:
        """DSP blocks Yosys' ``mul2dsp`` uses for this multiplier (0: left in logic).

        ``shape`` is the largest multiplier of one block; ``mul2dsp`` cuts a wider operand
        into pieces of that size and builds a last piece narrower than 2 bits in logic
        (checked against Yosys 0.68: a 33x16 product takes 2 MULT18X18D and 2 SB_MAC16).
        """
        if shape is None or self.y_width < min_y or min(self.a_width, self.b_width) < 2:
            return 0
        a, b = sorted((self.a_width, self.b_width), reverse=True)
        sa, sb = sorted(shape, reverse=True)

        def pieces(width, size):
            return 1 if width <= size else width // size + (1 if width % size >= 2 else 0)
        return min(pieces(a, sa) * pieces(b, sb), pieces(a, sb) * pieces(b, sa))


@dataclass(frozen=True)
class MemoryInfo:
    """One memory (``$mem_v2``) of the design."""

    name: str
    width: int
    depth: int
    read_ports: int
    write_ports: int
    cell: str = ""  # the $mem_v2 cell's name in the flattened design

    @property
    def bits(self) -> int:
        return self.width * self.depth

    @property
    def rom(self) -> bool:
        return self.write_ports == 0


def _int(value) -> int:
    return int(value, 2) if isinstance(value, str) else int(value)


def hierarchy(name: str) -> list[str]:
    """The hierarchy levels of a flattened cell name: ``$flatten\\core.\\cell.$mul$..`` -> core, cell."""
    path = re.sub(r"^\$flatten\\?", "", name)
    levels = []
    for part in path.split("."):
        part = part.lstrip("\\")
        if not part or part.startswith("$"):
            break
        levels.append(part)
    return levels


def _role(name: str) -> str:
    levels = hierarchy(name)
    for i, level in enumerate(levels):
        if level in ROLES:
            if level == "cell" and i + 1 < len(levels) and levels[i + 1].startswith("act_"):
                return "PWL activation"
            return ROLES[level]
    return "other"


def memory_display_name(memid: str) -> str:
    """``\\weights$261`` to ``weights``: the Amaranth name of a memory."""
    return re.sub(r"\$\d+$", "", memid.lstrip("\\"))


def read_inventory(path: str, top: str) -> tuple[list[Multiplier], list[MemoryInfo], list[tuple[str, str, int]]]:
    """Multipliers, memories and ports of module ``top`` from the analysis JSON at ``path``."""
    with open(path) as f:
        module = json.load(f)["modules"][top]
    muls, mems = [], []
    for name, cell in sorted(module["cells"].items()):
        p = cell["parameters"]
        src = cell.get("attributes", {}).get("src", "")
        if cell["type"] == "$mul":
            muls.append(Multiplier(name, _role(name), _int(p["A_WIDTH"]), _int(p["B_WIDTH"]), _int(p["Y_WIDTH"]),
                                   bool(_int(p["A_SIGNED"])), src))
        elif cell["type"] == "$mem_v2":
            mems.append(MemoryInfo(memory_display_name(p["MEMID"]), _int(p["WIDTH"]), _int(p["SIZE"]),
                                   _int(p["RD_PORTS"]), _int(p["WR_PORTS"]), name))
    ports = [(name, port["direction"], len(port["bits"])) for name, port in module["ports"].items()]
    return muls, mems, ports


def dsp_budget(muls: list[Multiplier], shape: tuple | None, min_y: int, available: int | None) -> set[str]:
    """Names of the multipliers to keep out of DSP blocks so the rest fit in ``available``.

    Like a vendor tool's DSP budget: the multipliers that would cost the most logic per
    block get blocks first (an ``a x b`` product costs about ``a * b`` logic cells), MAC
    lanes before other multipliers of the same cost; ``set()`` when all fit.
    """
    need = {m.name: m.dsp_blocks(shape, min_y) for m in muls}
    if available is None or sum(need.values()) <= available:
        return set()
    def saved_per_block(m):
        return m.a_width * m.b_width / max(1, need[m.name])
    order = sorted(muls, key=lambda m: (-saved_per_block(m), m.role != "MAC lane", m.name))
    left, soft = available, set()
    for m in order:
        if need[m.name] == 0:
            continue
        if need[m.name] <= left:
            left -= need[m.name]
        else:
            soft.add(m.name)
    return soft


def to_dicts(items) -> list[dict]:
    return [asdict(i) for i in items]


def spram_memories(mems: list[MemoryInfo], config: dict | None, has_spram: bool) -> list[MemoryInfo]:
    """Memories to place in SPRAM: the weights, when built without initial contents
    (``weight_memory = "loaded"``) for a device that has SPRAM."""
    if not has_spram or not config or config.get("weight_memory") != "loaded":
        return []
    return [m for m in mems if m.name.split(".")[-1] == "weights"]


#: Smallest memory (bits) put in block RAM on a device without LUT RAM, where flip-flops
#: and their read multiplexer would cost more logic cells than the block RAM saves.
BLOCK_MIN_BITS = 128

#: iCE40 block RAM (SB_RAM40_4K) aspect ratios: (width, depth).
ICE40_BRAM_MODES = ((16, 256), (8, 512), (4, 1024), (2, 2048))


def block_ram_estimate(mem: MemoryInfo) -> int:
    """iCE40 block RAMs ``mem`` takes in its best aspect ratio (a wide, shallow memory
    costs a block per 16 bits of width however few words it has)."""
    return min(-(-mem.width // w) * -(-mem.depth // d) for w, d in ICE40_BRAM_MODES)


def forced_block_memories(mems: list[MemoryInfo], skip: bool, exclude: list[MemoryInfo]) -> list[MemoryInfo]:
    """Memories and ROMs of :data:`BLOCK_MIN_BITS` or more to force into block RAM on a
    device without LUT RAM (Yosys builds the small ones from flip-flops, or LUTs for a
    ROM such as a PWL table), most bits per block first; none when ``skip`` (the device
    has LUT RAM or no block RAM)."""
    if skip:
        return []
    chosen = [m for m in mems if m.bits >= BLOCK_MIN_BITS and m not in exclude]
    return sorted(chosen, key=lambda m: (-m.bits / block_ram_estimate(m), m.name))


def drop_for_block_ram(forced: list[MemoryInfo], excess: int) -> list[MemoryInfo]:
    """``forced`` (most bits per block first) without its least dense memories, enough of
    them to free ``excess`` block RAMs by :func:`block_ram_estimate`."""
    kept, freed = list(forced), 0
    while kept and freed < excess:
        freed += block_ram_estimate(kept.pop())
    return kept
