#!/bin/bash
# The demo-budget experiments of bench/README.md ("What the demo's pretraining budget buys"):
# one tiny pretraining run pinned to one core, then the demo's transfer protocol per
# learning rate. usage: run.sh CORE NAME DATA(joint|union) CONFIG [fairseq overrides...]
set -e
cd "$(dirname "$0")/../../.."
REPO=$PWD
CORE=$1; NAME=$2; DATA=$3; CFG=$4; shift 4
OUT=${EXP_DIR:-/tmp/xling_exp}/$NAME; mkdir -p $OUT
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
start=$(date +%s)
taskset -c $CORE .venv/bin/fairseq-hydra-train --config-dir configs/tiny --config-name $CFG \
  task.data=${DATAROOT:-$REPO/data/registry_en_fr}/bin/$DATA "task.langs='en,fr'" common.cpu=true common.log_format=json common.user_dir=$REPO/fairseq_ext \
  common.bf16=true checkpoint.save_dir=$OUT/ckpt common.log_file=$OUT/train.log checkpoint.save_interval_updates=100000 \
  checkpoint.no_save_optimizer_state=true hydra.run.dir=$OUT/hydra "$@" > $OUT/stdout.txt 2>&1
mid=$(date +%s)
for task in bible_genre libreoffice_module; do
  for lr in 1e-3 3e-3; do
  taskset -c $CORE .venv/bin/python -m fairseq_ext.transfer finetune configs/transfer/standin_classification.yaml name=$task setting=$NAME model.name=$NAME \
    model.checkpoint=$OUT/ckpt/checkpoint_best.pt data.root=${DATAROOT:-$REPO/data/registry_en_fr}/EVAL out_dir=$OUT/transfer/$task/lr$lr \
    train.epochs=2 head.pooling=mean model.freeze_layers=${FREEZE:-4} train.batch_size=32 train.lr=$lr > $OUT/transfer_${task}_${lr}.txt 2>&1 || echo transfer failed $task
  done
done
end=$(date +%s)
echo "$NAME pretrain $((mid-start))s transfer $((end-mid))s" > $OUT/summary.txt
grep valid_loss $OUT/stdout.txt | tail -1 >> $OUT/summary.txt
