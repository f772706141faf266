"""Host time of the training data path: fetching (and masking) a batch of one language's
blocks from the xling_mlm task, and collating it, as fairseq's data loader does per step.

    python bench/data_path.py                                  # the demo's joint en-fr data
    python bench/data_path.py --data data/registry_en_fr/bin/union --batch-size 32
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO / "data/registry_en_fr/bin/joint"))
    p.add_argument("--langs", default="en,fr")
    p.add_argument("--tokens-per-sample", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)

    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    train_args = options.parse_args_and_arch(options.get_training_parser(), [
        args.data, "--user-dir", str(REPO / "fairseq_ext"), "--task", "xling_mlm", "--langs", args.langs,
        "--arch", "xling_tiny", "--tokens-per-sample", str(args.tokens_per_sample), "--sample-break-mode", "none",
        "--max-positions", str(args.tokens_per_sample), "--criterion", "xling_masked_lm",
    ])
    task = tasks.setup_task(convert_namespace_to_omegaconf(train_args).task)
    task.load_dataset("train")
    dataset = task.dataset("train")
    first_language = len(dataset.datasets[0])  # a batch holds one language: draw from the first
    indices = np.random.default_rng(0).choice(first_language, size=(args.batches, args.batch_size))
    fetch, collate = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        samples = [[dataset[int(i)] for i in batch] for batch in indices]
        middle = time.perf_counter()
        for batch in samples:
            dataset.collater(batch)
        end = time.perf_counter()
        fetch.append((middle - start) / args.batches * 1000)
        collate.append((end - middle) / args.batches * 1000)
        dataset.set_epoch(len(fetch) + 1)  # new masks: nothing is served from a cache
    print(f"per batch of {args.batch_size} blocks (median of {args.rounds} rounds): "
          f"fetch {statistics.median(fetch):.1f} ms, collate {statistics.median(collate):.1f} ms")


if __name__ == "__main__":
    main()
