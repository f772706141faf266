"""Domain-matched sizes: a random sample of one corpus as large as another.

The paper's Wiki-CC setting pretrains on English Wikipedia and, for the other language, a
random Common Crawl subset of the same size as its Wikipedia. Here: whole documents of
``candidates`` in random order until their characters reach those of ``reference`` (the
last document is cut at the line that reaches it).
"""

from pathlib import Path

import numpy as np

from preprocess.textio import DocumentWriter, read_documents


def match_size(candidates: Path, reference: Path, dest: Path, seed: int) -> dict:
    target = sum(len(line) for doc in read_documents(reference) for line in doc)
    sizes = [sum(len(line) for line in doc) for doc in read_documents(candidates)]
    order = np.random.default_rng(seed).permutation(len(sizes))
    take, total = {}, 0  # document index -> characters taken from it
    for i in order:
        if total >= target:
            break
        take[int(i)] = min(sizes[i], target - total)
        total += take[int(i)]
    with DocumentWriter(dest) as writer:
        for i, doc in enumerate(read_documents(candidates)):
            if i not in take:
                continue
            kept, chars = [], 0
            for line in doc:
                if chars >= take[i]:
                    break
                kept.append(line)
                chars += len(line)
            writer.write(kept)
    return {
        "reference_chars": target,
        "candidate_chars": sum(sizes),
        "sampled": writer.report,
        "short_by_chars": max(0, target - writer.report["chars"]),
    }
