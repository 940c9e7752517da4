"""Accuracy per epoch with the default hyperparameters, and the time to 99%.

    python benchmarks/accuracy.py [--device auto] [--cnn-epochs 5] [--mlp-epochs 5]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mltrack.mnist import fit, load_mnist, resolve_device
from mltrack.params import HyperParams
from mltrack.settings import default_data_dir


def run(model: str, epochs: int, data, device) -> None:
    params = HyperParams(model=model, num_epochs=epochs)  # adam, lr 1e-3, batch 128
    result = fit(params, data, device=device)
    print(f"\n{model} ({params.optimizer}, lr {params.learning_rate:g}, batch "
          f"{params.batch_size}, {result.precision} on {result.device})")
    print(f"{'epoch':>5} {'train loss':>11} {'test loss':>10} {'test acc %':>11} {'time s':>8}")
    for e in result.epochs:
        print(f"{e['epoch']:>5} {e['train_loss']:>11.4f} {e['test_loss']:>10.4f} "
              f"{e['test_accuracy']:>11.2f} {e['time_training']:>8.1f}")
    reached = next((e for e in result.epochs if e["test_accuracy"] >= 99.0), None)
    if reached:
        print(f"99% test accuracy after epoch {reached['epoch']}, "
              f"{reached['time_training']:.1f} s (training and evaluation)")
    else:
        print("99% test accuracy not reached")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cnn-epochs", type=int, default=5)
    parser.add_argument("--mlp-epochs", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir() / "mnist")
    args = parser.parse_args()
    device = resolve_device(args.device)
    data = load_mnist(args.data_dir, device)
    run("cnn", args.cnn_epochs, data, device)
    run("mlp", args.mlp_epochs, data, device)


if __name__ == "__main__":
    main()
