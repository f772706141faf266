"""Zero-shot transfer for one hyper-parameter setting: fine-tune on the source language,
select the epoch on the source-language dev set, test on each target language with its
own embeddings and lower layers.

A run writes ``OUT/result.json`` when it is complete. Until then ``OUT/last.pt`` (state
after the last finished epoch) lets a rerun continue where it stopped, and ``OUT/best.pt``
holds the weights of the best epoch so far; a finished run is not repeated.
"""

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from xling import files
from fairseq_ext.transfer.config import DataConfig, TransferConfig, config_from_dict
from fairseq_ext.transfer.encoding import collate, encode, length_sorted_batches, training_order
from fairseq_ext.transfer.formats import read_bio, read_conllu, read_labelled_tsv, read_nli
from fairseq_ext.transfer.heads import HEADS, TransformerProjector
from fairseq_ext.transfer.metrics import accuracy, majority_class
from fairseq_ext.transfer.model import Pretrained, TransferModel, load_pretrained

logger = logging.getLogger(__name__)

RESULT, LAST, BEST, CONFIG = "result.json", "last.pt", "best.pt", "config.json"


def read_split(data: DataConfig, path: str, lang: str) -> list:
    if data.format == "xnli":
        return read_nli(path, lang)
    if data.format == "labelled_tsv":
        return read_labelled_tsv(path)
    if data.format == "bio_ner":
        return read_bio(path, data.token_prefix.format(lang=lang), data.label_map or None)
    return read_conllu(path, data.universal_relations)


def source_splits(data: DataConfig) -> Tuple[list, list]:
    """Training and dev examples of the source language."""
    train = read_split(data, data.train, data.source_lang)
    if data.dev is not None:
        dev = read_split(data, data.dev, data.source_lang)
    else:  # every n-th training example, so the split is fixed
        every = max(2, round(1 / data.dev_holdout))
        dev, train = train[::every], [example for i, example in enumerate(train) if i % every]
    if data.max_train_examples is not None:
        train = train[: data.max_train_examples]
    return train, dev


def build_model(cfg: TransferConfig, pretrained: Pretrained, labels: Sequence[str]) -> TransferModel:
    head_cfg, dim = cfg.head, pretrained.encoder.embed_tokens.embedding_dim
    head = HEADS[head_cfg.kind].from_config(dim, labels, head_cfg)
    projector = None
    if head_cfg.projector_layers:
        projector = TransformerProjector(
            dim, head_cfg.projector_layers, head_cfg.projector_heads, head_cfg.projector_ffn_dim,
            head_cfg.projector_dropout,
        )
    model = TransferModel(pretrained.encoder, head, cfg.model.feature_layer, projector)
    model.freeze(cfg.model.freeze_layers)
    return model


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_optimizer(model: TransferModel, cfg: TransferConfig, total_updates: int):
    """AdamW with two learning rates (encoder, head) and no decay on biases and norms."""
    train = cfg.train
    groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        lr = train.lr if name.startswith("encoder.") else (train.head_lr or train.lr)
        decay = train.weight_decay if param.dim() > 1 else 0.0
        groups.setdefault((lr, decay), []).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": params, "lr": lr, "weight_decay": decay} for (lr, decay), params in groups.items()]
    )
    warmup = int(train.warmup_ratio * total_updates)

    def linear(update: int) -> float:  # warm up from 0, then decay to 0 at the last update
        if update < warmup:
            return (update + 1) / (warmup + 1)
        return max(0.0, (total_updates - update) / max(1, total_updates - warmup))

    schedule = linear if train.schedule == "linear" else (lambda update: 1.0)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def train_epoch(model, optimizer, scheduler, encoded, order, lang_id: int, cfg: TransferConfig, desc: str) -> float:
    """One pass over ``order`` (example indices) in batches; returns the mean loss."""
    model.train()
    device, batch_size = next(model.parameters()).device, cfg.train.batch_size
    trainable = [p for p in model.parameters() if p.requires_grad]
    losses = []
    for start in tqdm(range(0, len(order), batch_size), desc=f"{cfg.name} {desc}", disable=None):
        indices = order[start : start + batch_size]
        batch = collate([encoded[i] for i in indices], indices, lang_id, model.padding_idx).to(device)
        loss = model.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(trainable, cfg.train.clip_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return float(np.mean(losses))


@torch.no_grad()
def evaluate(model: TransferModel, examples, encoded, lang_id: int, batch_size: int, device) -> Dict[str, float]:
    model.eval()
    predictions = [None] * len(examples)
    for indices in length_sorted_batches([len(e.tokens) for e in encoded], batch_size):
        batch = collate([encoded[i] for i in indices], indices, lang_id, model.padding_idx).to(device)
        for index, prediction in zip(batch.indices, model.predict(batch)):
            predictions[index] = prediction
    return model.head.score(examples, predictions)


class _Checkpoints:
    """The run folder's resumable state (last.pt) and best weights (best.pt)."""

    def __init__(self, out_dir: Path, model: TransferModel, optimizer, scheduler):
        self.out_dir, self.model, self.optimizer, self.scheduler = out_dir, model, optimizer, scheduler

    def restore(self) -> dict:
        """Progress so far: finished epochs, dev history, best epoch and score."""
        path = self.out_dir / LAST
        if not path.exists():
            return {"epochs_done": 0, "history": [], "best_epoch": None, "best_score": -np.inf, "stale_epochs": 0}
        state = torch.load(path, map_location="cpu")
        self.model.load_trainable_state(state["model"], str(path))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        logger.info("%s: resuming after epoch %d", path, state["progress"]["epochs_done"])
        return state["progress"]

    def save(self, progress: dict, improved: bool) -> None:
        weights = self.model.trainable_state()
        if improved:
            files.save_torch(self.out_dir / BEST, {"model": weights, "epoch": progress["best_epoch"]})
        state = {
            "model": weights,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "progress": progress,
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        files.save_torch(self.out_dir / LAST, state)

    def load_best(self) -> None:
        self.model.load_trainable_state(torch.load(self.out_dir / BEST, map_location="cpu")["model"], str(self.out_dir / BEST))


def finetune(cfg: TransferConfig) -> dict:
    """Run (or resume, or just return) the fine-tuning of ``cfg``; returns result.json's content."""
    out_dir = Path(cfg.out_dir)
    config = {key: value for key, value in asdict(cfg).items() if key != "grid"}  # a grid may grow later
    result = read_result(out_dir)
    if result is not None:
        if result["config"] != config:
            raise ValueError(f"{out_dir / RESULT} was made with another configuration: use another out_dir")
        return result
    if (out_dir / CONFIG).exists() and json.loads((out_dir / CONFIG).read_text(encoding="utf-8")) != config:
        raise ValueError(f"{out_dir} holds an unfinished run of another configuration ({CONFIG}): use another out_dir")
    files.write_json(out_dir / CONFIG, config)

    train_cfg, device = cfg.train, resolve_device(cfg.train.device)
    torch.manual_seed(train_cfg.seed)
    pretrained = load_pretrained(cfg.model.checkpoint, cfg.model.vocab_dir)
    source_id = pretrained.lang_id(cfg.data.source_lang)
    target_ids = {lang: pretrained.langs.index(lang) for lang in cfg.data.test if lang in pretrained.langs}
    if not target_ids:
        raise ValueError(
            f"none of data.test's languages {sorted(cfg.data.test)} is a language of {cfg.model.checkpoint} "
            f"({pretrained.langs})"
        )
    if len(target_ids) < len(cfg.data.test):  # e.g. the en-fr model of a config listing fr, ru and zh
        logger.info("%s: testing %s only, the languages of the checkpoint", cfg.name, sorted(target_ids))
    train_examples, dev_examples = source_splits(cfg.data)
    tests = {lang: read_split(cfg.data, cfg.data.test[lang], lang) for lang in target_ids}
    labels = HEADS[cfg.head.kind].label_set(train_examples)
    model = build_model(cfg, pretrained, labels).to(device)
    logger.info(
        "%s: %d training / %d dev examples, %d labels; trainable parameters: %d of %d",
        cfg.name, len(train_examples), len(dev_examples), len(labels),
        sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters()),
    )

    vocab, max_tokens = pretrained.vocab, train_cfg.max_tokens or model.encoder.max_positions()
    src = cfg.data.source_lang
    encoded_train = [
        encode(vocab, e, src, max_tokens, model.head.targets)
        for e in tqdm(train_examples, desc=f"{cfg.name} encoding", disable=None)
    ]
    encoded_dev = [encode(vocab, e, src, max_tokens) for e in dev_examples]
    epoch_size = train_cfg.examples_per_epoch or len(encoded_train)
    updates_per_epoch = -(-epoch_size // train_cfg.batch_size)
    optimizer, scheduler = build_optimizer(model, cfg, updates_per_epoch * train_cfg.epochs)
    checkpoints = _Checkpoints(out_dir, model, optimizer, scheduler)
    progress = checkpoints.restore()

    for epoch in range(progress["epochs_done"], train_cfg.epochs):
        if train_cfg.patience is not None and progress["stale_epochs"] >= train_cfg.patience:
            logger.info("%s: no better dev score for %d epochs, stopping", cfg.name, train_cfg.patience)
            break
        order = training_order(len(encoded_train), epoch, train_cfg.seed, train_cfg.examples_per_epoch)
        started = time.perf_counter()
        loss = train_epoch(model, optimizer, scheduler, encoded_train, order, source_id, cfg, f"epoch {epoch + 1}")
        seconds = time.perf_counter() - started
        dev = evaluate(model, dev_examples, encoded_dev, source_id, train_cfg.eval_batch_size, device)
        score = dev[model.head.metric]
        improved = score > progress["best_score"]
        progress["history"].append(
            {"epoch": epoch + 1, "train_loss": loss, "dev": dev,
             "train_examples_per_second": len(order) / seconds}
        )
        if improved:
            progress.update(best_epoch=epoch + 1, best_score=score, stale_epochs=0)
        else:
            progress["stale_epochs"] += 1
        progress["epochs_done"] = epoch + 1
        checkpoints.save(progress, improved)
        logger.info("%s epoch %d: loss %.4f, dev %s %.4f", cfg.name, epoch + 1, loss, model.head.metric, score)

    checkpoints.load_best()
    result = {
        "name": cfg.name, "column": cfg.column, "setting": cfg.setting, "metric": model.head.metric,
        "source_lang": src, "best_epoch": progress["best_epoch"],
        "dev": evaluate(model, dev_examples, encoded_dev, source_id, train_cfg.eval_batch_size, device),
        "test": {}, "history": progress["history"], "labels": labels,
        "train_examples_per_second": float(np.mean([h["train_examples_per_second"] for h in progress["history"]])),
        "device": str(device), "config": config,
    }
    for lang, examples in tests.items():
        encoded = [encode(vocab, e, lang, max_tokens) for e in examples]
        result["test"][lang] = evaluate(model, examples, encoded, target_ids[lang], train_cfg.eval_batch_size, device)
    if cfg.head.kind == "classification":
        result["majority_baseline"] = majority_baseline(train_examples, {"dev": dev_examples, **tests})
    files.write_json(out_dir / RESULT, result)
    for name in [LAST] + ([] if train_cfg.save_model else [BEST]):
        (out_dir / name).unlink(missing_ok=True)
    return result


def majority_baseline(train_examples, evaluated: Dict[str, list]) -> Dict[str, float]:
    """Accuracy of always predicting the most frequent training label."""
    label = majority_class([e.label for e in train_examples])
    return {
        split: accuracy([e.label for e in examples], [label] * len(examples))["accuracy"]
        for split, examples in evaluated.items()
    }


def read_result(run_dir) -> Optional[dict]:
    """``run_dir/result.json`` as :func:`finetune` wrote it; None while the run is unfinished."""
    path = Path(run_dir) / RESULT
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def evaluated_sizes(result: dict, langs: Sequence[str]) -> Tuple[Dict[str, int], int]:
    """(examples in the test set of each of ``langs``, examples in the source-language dev
    set) that ``result`` (a result.json) was scored and chosen on, read again through its
    config: the n of its scores' standard errors."""
    data = config_from_dict(result["config"]).data
    tests = {lang: len(read_split(data, data.test[lang], lang)) for lang in langs}
    return tests, len(read_split(data, data.dev, data.source_lang))


def load_finetuned(run_dir) -> Tuple[TransferModel, Pretrained, TransferConfig]:
    """A finished run's model (its best epoch), e.g. to predict or to analyse it."""
    run_dir = Path(run_dir)
    result = read_result(run_dir)
    if result is None:
        raise FileNotFoundError(f"{run_dir / RESULT} is missing: the run has not finished")
    if not (run_dir / BEST).exists():
        raise FileNotFoundError(f"{run_dir / BEST} is missing: the run was made with train.save_model=false")
    cfg = config_from_dict(result["config"])
    pretrained = load_pretrained(cfg.model.checkpoint, cfg.model.vocab_dir)
    model = build_model(cfg, pretrained, result["labels"])
    model.load_trainable_state(torch.load(run_dir / BEST, map_location="cpu")["model"], str(run_dir / BEST))
    return model.eval(), pretrained, cfg

