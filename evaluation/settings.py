"""The settings file ``memornn tune`` writes (the run options ``golden`` and ``simulate`` read
with ``--settings``), with the choice's provenance as comments."""

from __future__ import annotations

import os

from ..golden.errors import MemornnError


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"no TOML form for {value!r}")


def settings_text(predictor: str, setting: dict, result, heldout: dict | None = None) -> str:
    """The file's text: comments on how the setting was chosen, then the run options."""
    lines = [f"# memornn tune: {predictor}, chosen on validation data for a maximum loss of {result.max_loss:g} "
             f"points ({result.kind}),",
             f"# budget {result.budget:g} after a safety margin of {result.margin:g}; {len(result.points)} settings "
             f"tried.",
             f"# validation: loss {result.best['loss']:.3f}, {result.best['macs_skipped']:.2f} % of MACs skipped."]
    if heldout is not None:
        lines.append(f"# held out: loss {heldout['loss']:.3f}, {heldout['macs_skipped']:.2f} % of MACs skipped "
                     "(never read by the choice).")
    lines.append(f"predictor = {_toml_value(predictor)}")
    lines += [f"{key} = {_toml_value(value)}" for key, value in setting.items()]
    return "\n".join(lines) + "\n"


def write_settings(path: str, text: str) -> None:
    """Write the file through a temporary name: a failure never leaves a partial file."""
    folder = os.path.dirname(path)
    tmp = path + ".tmp"
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise MemornnError(f"cannot write {path!r}: {exc.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
