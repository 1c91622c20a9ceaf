"""The Verilog a simulator runs, written once into a cache directory named by its inputs.

A design is the AXI top level (:class:`~memornn.hw.top.Accelerator`, always with the
reuse-trace stream) for one layout and hardware configuration, either with all memories
zero (models are loaded at run time through the load port, so one build serves every
model of that shape) or with one model's images as memory initial contents. With
``wrapper`` the directory also holds the test wrapper ``memornn_tb``
(:mod:`~memornn.sim.rtl.wrapper`).

The directory is ``<cache>/<key>``: the key hashes the layout, the configuration, the
images and the source of everything that shapes the Verilog (``hw/``, ``golden/``, this
package's generator and lint modules, the Amaranth version), so a changed generator never
reuses a stale build and an unchanged one never converts twice. The cache is
``$MEMORNN_RTL_CACHE`` if set, else ``build/rtl`` at the repository root (an editable
install), else ``~/.cache/memornn/rtl``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from ...golden.qmodel import QModel
from ...hw.config import HwConfig
from ...hw.generate import TOP_NAME
from ...hw.layout import Layout
from ...hw.spec import BuildSpec

CACHE_ENV = "MEMORNN_RTL_CACHE"
WRAPPER_TOP = "memornn_tb"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the repository root in an editable install
_FINGERPRINT_DIRS = ("hw", "golden")
_FINGERPRINT_FILES = ("sim/rtl/design.py", "sim/rtl/wrapper.py", "sim/rtl/lint.py")


def cache_root() -> Path:
    """Where designs and builds are cached (created on first use)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).resolve()
    if (_PACKAGE_ROOT / "pyproject.toml").is_file() and os.access(_PACKAGE_ROOT, os.W_OK):
        return _PACKAGE_ROOT / "build" / "rtl"
    return Path.home() / ".cache" / "memornn" / "rtl"


def source_fingerprint() -> str:
    """Hash of the source files that shape the generated Verilog."""
    digest = hashlib.sha256(version("amaranth").encode())
    files = sorted(p for d in _FINGERPRINT_DIRS for p in (_PACKAGE_ROOT / d).glob("*.py"))
    files += [_PACKAGE_ROOT / f for f in _FINGERPRINT_FILES]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@contextmanager
def locked(directory: Path):
    """Hold an exclusive lock on ``directory`` (created if needed) for the block."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(directory: Path, make: Callable[[], None], ready: Callable[[], bool] = lambda: True) -> float:
    """Run ``make()``, which builds into ``directory``, unless a finished build is there.

    A build is finished once ``directory/.built`` is written, after ``make`` returns (and
    ``ready()`` holds). The directory's lock is held throughout, so concurrent callers
    build once. Returns the seconds ``make`` took: 0 when the build was there.
    """
    stamp = directory / ".built"
    with locked(directory):
        if stamp.is_file() and ready():
            return 0.0
        start = time.monotonic()
        make()
        stamp.write_text(f"{time.time()}\n")
        return time.monotonic() - start


def save_runtime(build_dir: Path, runtime: Path) -> None:
    """Keep Verilator's run-time objects (``verilated*.o``) of a finished build in
    ``runtime`` for later builds (atomically: a process that loses the race drops its copy)."""
    objects = sorted(build_dir.glob("verilated*.o"))
    if not objects:
        return
    tmp = runtime.with_name(runtime.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for obj in objects:
        shutil.copy2(obj, tmp / obj.name)
    try:
        tmp.rename(runtime)
    except OSError:  # another process saved it first
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class Design:
    """Generated Verilog of one accelerator, ready to build.

    Attributes
    ----------
    layout : Layout
        The accelerator's layout (memories, widths, timing): what the testbenches drive it by.
    config : HwConfig
        The configuration it was generated from.
    directory : Path
        Holds ``memornn_accel.v`` (and ``memornn_tb.v`` with the wrapper) and, in
        sub-directories, the simulators' builds.
    top : str
        ``memornn_accel``, or ``memornn_tb`` for the wrapper.
    runtime_load : bool
        The memories start at zero and models are loaded through the load port.
    """

    layout: Layout
    config: HwConfig
    directory: Path
    top: str
    runtime_load: bool

    @property
    def accel_verilog(self) -> Path:
        return self.directory / f"{TOP_NAME}.v"

    @property
    def sources(self) -> list[Path]:
        """Verilog files, the top's own last."""
        files = [self.accel_verilog]
        if self.top == WRAPPER_TOP:
            files.append(self.directory / f"{WRAPPER_TOP}.v")
        return files

    def write_waivers(self) -> Path:
        """Write the Verilator waiver file of this design's builds; returns its path."""
        from .lint import write_waivers

        return write_waivers(self.directory)


def rtl_layout(model: QModel, config: HwConfig) -> Layout:
    """The layout of ``model`` on ``config``, refusing a model (or a configuration) the
    hardware cannot hold."""
    return BuildSpec.of(model, config, trace=True).layout


def _key(layout: Layout, config: HwConfig, images: dict | None, wrapper: bool) -> str:
    description = {
        "layout": dataclasses.asdict(layout),
        "row_fifo_depth": config.row_fifo_depth,
        "counter_bits": config.counter_bits,
        "images": None if images is None else {k: [int(w) for w in v] for k, v in sorted(images.items())},
        "wrapper": wrapper,
        "source": source_fingerprint(),
    }
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare_design(layout: Layout, config: HwConfig, images: dict | None = None, wrapper: bool = False,
                   root: Path | None = None) -> Design:
    """Write the design's Verilog into its cache directory unless it is there already.

    Parameters
    ----------
    layout : Layout
        From :func:`rtl_layout`.
    config : HwConfig
        ``row_fifo_depth`` and ``counter_bits`` are taken from it; the trace stream is
        always generated.
    images : dict or None
        Memory initial contents (:func:`memornn.hw.layout.memory_images`), or ``None`` to
        load models at run time.
    wrapper : bool
        Also write the test wrapper and make it the top level.
    root : Path, optional
        Cache directory (default :func:`cache_root`).

    Returns
    -------
    Design
    """
    from amaranth.back import verilog  # the HDL toolchain: only when a design is made

    from ...hw.build import build_design
    from .wrapper import wrapper_verilog

    directory = (root or cache_root()) / _key(layout, config, images, wrapper)
    design = Design(layout, config, directory, WRAPPER_TOP if wrapper else TOP_NAME, images is None)
    with locked(directory):
        if all(path.is_file() for path in design.sources):
            return design
        top = build_design(BuildSpec.from_config(layout, config, trace=True), images)
        texts = {design.accel_verilog: verilog.convert(top, name=TOP_NAME, emit_src=False)}
        if wrapper:
            texts[directory / f"{WRAPPER_TOP}.v"] = wrapper_verilog(layout)
        for path, text in texts.items():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
        (directory / "design.json").write_text(json.dumps(
            {"layout": dataclasses.asdict(layout), "config": config.to_dict(), "top": design.top,
             "runtime_load": images is None}, indent=1, default=str))
    return design
