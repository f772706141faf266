#!/bin/bash
# before (89a8a93: whole-dictionary Sep Emb tables) and after (per-language vocabularies), interleaved
set -e
OUT=/work/main/bench/results/lang_vocab_2026-12-02
DATA=/tmp/xling_bench/union80000_4096lines_lexicon/bin
ARGS="--systems xling_default_fused,xling_sep_emb_l1_3_fused --vocab synthetic --data-dir $DATA --dtype bf16 --rounds 1"
for r in 1 2 3; do
  (cd /tmp/before && PYTHONPATH=/tmp/before /work/main/.venv/bin/python bench/train_throughput.py $ARGS --json $OUT/before_round$r.json) > $OUT/before_round$r.txt 2>&1
  (cd /work/main && .venv/bin/python bench/train_throughput.py $ARGS --json $OUT/after_round$r.json) > $OUT/after_round$r.txt 2>&1
done
