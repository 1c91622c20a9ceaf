"""Training the committed float models (``models/*.npz``) with PyTorch (the torch extra).

Every model is an ``nn.LSTM`` / ``nn.GRU`` (``batch_first``) followed by a linear head
on the last layer's output at each sequence's last step, trained with Adam on the
cross-entropy loss for a fixed number of epochs (no selection on the validation or test
split; neither is seen by training).
Sequences of different lengths go through ``pack_padded_sequence``, so training sees
exactly the per-sequence-length semantics of :func:`memornn.golden.floatref.float_forward`.
Runs are seeded and single-threaded (``torch.set_num_threads(1)``).

The trained model is written in the float model format (PyTorch parameter names plus
``head_weight`` / ``head_bias``; float32 arrays, i.e. the trained values exactly). Before
writing, the test accuracy of PyTorch (in float64, packed sequences) is checked to equal
that of ``float_forward``.

Run ``python -m memornn.evaluation.train`` (all models) or ``--models jv_gru64``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..golden.errors import MemornnError
from ..golden.floatmodel import model_from_arrays
from ..golden.floatref import apply_head, float_forward, last_outputs
from ..golden.npzfile import save_npz
from ..golden.torchio import arrays_from_module, require_torch
from .datasets import Dataset, load_dataset
from .progress import progress


@dataclass(frozen=True)
class ModelSpec:
    """What to train: data set, architecture and the training schedule.

    Attributes
    ----------
    dataset : str
        A data set :func:`~.datasets.load_dataset` knows.
    cell : {"lstm", "gru"}
    hidden : int
        Hidden units per direction.
    layers : int
    bidirectional : bool
    epochs, batch : int
        Training epochs (the cosine learning-rate schedule's length) and sequences per
        mini-batch.
    lr, weight_decay : float
        Adam's initial learning rate and weight decay.
    seed : int
        Seeds the initial weights and the batch order.
    """

    dataset: str
    cell: str
    hidden: int
    layers: int = 1
    bidirectional: bool = False
    epochs: int = 60
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0


#: The committed models, ``models/<name>.npz``.
MODEL_SPECS = {
    "jv_lstm64": ModelSpec("japanesevowels", "lstm", 64, epochs=60),
    "jv_gru64": ModelSpec("japanesevowels", "gru", 64, epochs=60),
    "jv_lstm64x2": ModelSpec("japanesevowels", "lstm", 64, layers=2, epochs=60),
    "digits_lstm64": ModelSpec("digits", "lstm", 64, epochs=40, batch=64),
    "digits_lstm256": ModelSpec("digits", "lstm", 256, epochs=30, batch=64, lr=2e-3),
    "seqdigits_gru64": ModelSpec("seqdigits", "gru", 64, epochs=60, batch=32, lr=3e-3),
}


def _build(torch, spec: ModelSpec, input_size: int, classes: int):
    nn = torch.nn

    class Classifier(nn.Module):
        """RNN stack + linear head on each sequence's last-step output."""

        def __init__(self):
            super().__init__()
            rnn = nn.LSTM if spec.cell == "lstm" else nn.GRU
            self.rnn = rnn(input_size, spec.hidden, num_layers=spec.layers, bidirectional=spec.bidirectional,
                           batch_first=True)
            self.head = nn.Linear(spec.hidden * (2 if spec.bidirectional else 1), classes)

        def forward(self, x, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
            last = out[torch.arange(out.shape[0]), lengths - 1]
            return self.head(last)

    return Classifier()


def _accuracy(torch, net, x: np.ndarray, lengths: np.ndarray, y: np.ndarray, dtype) -> float:
    net.eval()
    with torch.no_grad():
        scores = net(torch.from_numpy(x).to(dtype), torch.from_numpy(lengths))
    net.train()
    return 100.0 * float((scores.argmax(dim=1).numpy() == y).mean())


def float_model_of(net):
    """The float model (with head) of a trained classifier, in float64."""
    arrays = arrays_from_module(net.rnn)
    arrays["head_weight"] = net.head.weight.detach().double().numpy()
    arrays["head_bias"] = net.head.bias.detach().double().numpy()
    return model_from_arrays(arrays, "trained model")


def float_accuracy(model, data: Dataset) -> float:
    """Test accuracy (%) of a float model with head, by :func:`float_forward`."""
    h = float_forward(model, data.test)
    scores = apply_head(model, last_outputs(h, data.test.lengths))
    return 100.0 * float((scores.argmax(axis=1) == data.y_test).mean())


def train_model(spec: ModelSpec, data: Dataset | None = None, show_progress: bool = True):
    """Train one model.

    Returns
    -------
    model : FloatModel
        The trained model with its head, float64.
    info : dict
        ``seconds``, ``torch_accuracy`` (float64 PyTorch, test), ``float_accuracy``
        (:func:`float_forward`, test), ``train_accuracy`` and the spec.

    Raises
    ------
    MemornnError
        If torch or the data extra is missing, or the two test accuracies differ.
    """
    torch = require_torch()
    torch.set_num_threads(1)
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    data = data or load_dataset(spec.dataset)
    start = time.monotonic()
    net = _build(torch, spec, data.input_size, data.classes)
    opt = torch.optim.Adam(net.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=spec.epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.from_numpy(data.train.x.astype(np.float32))
    lengths = torch.from_numpy(data.train.lengths)
    y = torch.from_numpy(data.y_train)
    n = data.train.size
    bar = progress(range(spec.epochs), desc=f"train {spec.dataset} {spec.cell}{spec.hidden}x{spec.layers}",
                   enabled=show_progress)
    for _ in bar:
        order = torch.from_numpy(rng.permutation(n))
        total = 0.0
        for lo in range(0, n, spec.batch):
            idx = order[lo:lo + spec.batch]
            opt.zero_grad()
            loss = loss_fn(net(x[idx], lengths[idx]), y[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        bar.set_postfix_str(f"loss {total / n:.4f}")
    seconds = time.monotonic() - start
    net = net.double()
    model = float_model_of(net)
    info = {
        "seconds": round(seconds, 1),
        "train_accuracy": _accuracy(torch, net, data.train.x, data.train.lengths, data.y_train, torch.float64),
        "torch_accuracy": _accuracy(torch, net, data.test.x, data.test.lengths, data.y_test, torch.float64),
        "float_accuracy": float_accuracy(model, data),
        "spec": asdict(spec),
    }
    if info["torch_accuracy"] != info["float_accuracy"]:
        raise MemornnError(f"test accuracy of PyTorch ({info['torch_accuracy']:.2f} %) and of float_forward "
                           f"({info['float_accuracy']:.2f} %) differ")
    return model, info


def save_float32(model, path: str) -> None:
    """Write a float model with float32 arrays: exactly the trained (float32) parameters,
    at half the size of float64; loading widens them back to float64."""
    arrays = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in model.to_arrays().items()}
    save_npz(path, arrays)


def main(argv: list[str] | None = None) -> int:
    """Train the models of :data:`MODEL_SPECS` and write them as ``.npz`` files."""
    parser = argparse.ArgumentParser(prog="python -m memornn.evaluation.train", description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODEL_SPECS), help="comma-separated names (default: all)")
    parser.add_argument("--out", default="models", help="output directory (default models/)")
    parser.add_argument("--log", default="benchmarks/results/eval_training.json",
                        help="JSON log of times and accuracies (merged with an existing one)")
    args = parser.parse_args(argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODEL_SPECS]
    if unknown:
        print(f"unknown model {unknown[0]!r} (choose from {', '.join(MODEL_SPECS)})", file=sys.stderr)
        return 2
    log = read_log(args.log)
    cache: dict[str, Dataset] = {}
    for name in names:
        spec = MODEL_SPECS[name]
        data = cache.setdefault(spec.dataset, load_dataset(spec.dataset))
        model, info = train_model(spec, data)
        save_and_log(name, model, info, args.out, log, args.log)
    return 0


def read_log(path: str) -> dict:
    """The training log at ``path``, or an empty one."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def save_and_log(name: str, model, info: dict, out: str, log: dict, log_path: str) -> None:
    """Write ``out/<name>.npz`` (float32) and the training log with ``info`` under ``name``."""
    save_float32(model, os.path.join(out, f"{name}.npz"))
    log[name] = info
    print(f"{name}: {info['seconds']:.0f} s, test accuracy {info['float_accuracy']:.2f} % "
          f"(train {info['train_accuracy']:.2f} %)", file=sys.stderr)
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w") as f:
        json.dump(log, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
