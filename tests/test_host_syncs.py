"""Host-synchronising calls inside one fairseq training step.

On a GPU, each call that brings a device value to Python (``.item()``, ``bool(t)``, a
boolean-mask index whose result size depends on the data, ...) waits until every
queued kernel has run, so the host cannot queue ahead of the device. On a CPU these are
the same calls, so they can be counted here: the counter wraps the torch methods that
synchronise for the duration of a block and records where each call came from.
"""

import collections
import contextlib
import sys

import pytest
import torch

from helpers import REPO, SHARING_SETTINGS, build_task_and_model, tiny_train_args

PLUGIN_DIR = str(REPO / "fairseq_ext")

# What one step still syncs ("plugin": plugin code is on the stack); 26 and 27 in all, 17
# and 18 from the plugin, before the criterion and encoder were changed:
# - the LM head's masked rows (`features[masked_tokens]`, as in fairseq's RobertaLMHead):
#   their number is the data's. Without it the head would project every token (about 6x
#   its FLOPs at 15% masking) or the data pipeline would have to send masked positions;
# - reduce_metrics: every language's size read at once (a language absent from the
#   interval logs nothing), fairseq's `loss` meter's `n > 0` for its tensor weight in each
#   of the 3 active aggregators, and the rounding of each language's perplexity;
# - fairseq's Trainer: `sample_size or 1.0`, `isfinite(grad_norm)` twice, and the
#   rounding of each logged meter (`.item()`, after a `count > 0`).
# All but the first come after the backward pass is queued.
PLUGIN_SYNCS = {"default": 6, "sep_emb_l1_3": 6}
TOTAL_SYNCS = {"default": 14, "sep_emb_l1_3": 14}


def _has_bool_tensor(index) -> bool:
    indices = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)


# (owner, attribute, whether a call synchronises: None = always)
_SYNCING = [
    *((torch.Tensor, name, None) for name in ("item", "tolist", "__bool__", "__int__", "__float__", "__index__")),
    (torch.Tensor, "nonzero", None),
    (torch.Tensor, "bincount", None),  # sizes its output from the input's maximum
    (torch.Tensor, "__getitem__", lambda self, index: _has_bool_tensor(index)),
    (torch.Tensor, "__setitem__", lambda self, index, value: _has_bool_tensor(index)),
    (torch, "nonzero", None),
    (torch, "bincount", None),
]

Sync = collections.namedtuple("Sync", "api where from_plugin")


def _call_site(frame):
    """(the first frame outside torch as 'file:line function', whether plugin code is on the stack)."""
    where, from_plugin = None, False
    while frame is not None:
        path = frame.f_code.co_filename
        if where is None and "/torch/" not in path:
            short = path.replace(str(REPO) + "/", "").split("site-packages/")[-1]
            where = f"{short}:{frame.f_lineno} {frame.f_code.co_name}"
        from_plugin = from_plugin or path.startswith(PLUGIN_DIR)
        frame = frame.f_back
    return where, from_plugin


@contextlib.contextmanager
def count_host_syncs():
    """Record every host-synchronising torch call made inside the block (a list of Sync)."""
    syncs = []
    depth = [0]  # a counted call that calls another wrapped method counts once
    saved = []

    def wrap(owner, name, selects):
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            if depth[0] == 0 and (selects is None or selects(*args)):
                syncs.append(Sync(f"{getattr(owner, '__name__', owner)}.{name}", *_call_site(sys._getframe(1))))
            depth[0] += 1
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1

        return counted

    try:
        for owner, name, selects in _SYNCING:
            saved.append((owner, name, owner.__dict__.get(name)))
            setattr(owner, name, wrap(owner, name, selects))
        yield syncs
    finally:
        for owner, name, own in reversed(saved):
            if own is None:  # inherited (from torch._C.TensorBase): uncover it again
                delattr(owner, name)
            else:
                setattr(owner, name, own)


def test_the_counter_counts_syncs_and_nothing_else():
    x = torch.arange(6.0)
    before = [owner.__dict__.get(name) for owner, name, _ in _SYNCING]
    with count_host_syncs() as syncs:
        x.sum().item()
        x.max().item()
    assert [s.api for s in syncs] == ["Tensor.item", "Tensor.item"]
    assert all(s.where.startswith("tests/test_host_syncs.py:") and not s.from_plugin for s in syncs)

    with count_host_syncs() as syncs:
        if x.sum() > 0:  # bool(tensor)
            pass
        x[x > 2]  # boolean mask: the result's size is data-dependent
        x[x > 2] = 0.0
        torch.nonzero(x)
        int(x[0])
        x.tolist()
    assert [s.api for s in syncs] == [
        "Tensor.__bool__", "Tensor.__getitem__", "Tensor.__setitem__", "torch.nonzero", "Tensor.__int__",
        "Tensor.tolist",
    ]

    with count_host_syncs() as syncs:  # device-side work with host-known shapes
        y = x[1:4] * 2
        y = y[torch.tensor([0, 2])]
        torch.where(x > 2, x, 0.0).sum()
        x.index_add_(0, torch.tensor([0, 0]), torch.ones(2))
    assert syncs == []
    # every wrapped method is torch's own again
    assert [owner.__dict__.get(name) for owner, name, _ in _SYNCING] == before


def build_trainer(data, save_dir, flags):
    """A fairseq Trainer for the tiny model, with its training batches in a fixed order."""
    from fairseq import options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    argv = tiny_train_args(data, save_dir, "en,fr", 10, flags)
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(options.get_training_parser(), argv))
    utils.set_torch_seed(cfg.common.seed)
    task = tasks.setup_task(cfg.task)
    trainer = Trainer(cfg, task, task.build_model(cfg.model), task.build_criterion(cfg.criterion))
    batches = list(trainer.get_train_iterator(epoch=1).next_epoch_itr(shuffle=False))
    return trainer, batches


@pytest.mark.parametrize("setting", ["default", "sep_emb_l1_3"])
def test_one_training_step_has_few_host_syncs(bilingual_data, tmp_path, setting):
    trainer, batches = build_trainer(bilingual_data, tmp_path, SHARING_SETTINGS[setting])
    # batches of the second language use its own modules; the first step also builds the optimizer
    fr = [b for b in batches if int(b["net_input"]["src_lang_id"][0]) == 1]
    trainer.train_step([fr[0]])
    with count_host_syncs() as syncs:
        trainer.train_step([fr[1]])

    report = "\n".join(f"{s.api} at {s.where}{' (plugin)' if s.from_plugin else ''}" for s in syncs)
    plugin = [s for s in syncs if s.from_plugin]
    assert len(plugin) <= PLUGIN_SYNCS[setting], report
    assert len(syncs) <= TOTAL_SYNCS[setting], report


def hand_made_sample(task, lang_ids, lengths, masked, lang=None):
    """Right-padded sentences of the given lengths, ``masked[b]`` positions of sentence b masked."""
    generator = torch.Generator().manual_seed(0)
    vocab = task.source_dictionary
    src = torch.full((len(lengths), max(lengths)), vocab.pad())
    target = src.clone()
    for b, (length, count) in enumerate(zip(lengths, masked)):
        src[b, :length] = torch.randint(vocab.nspecial, task.mask_idx, (length,), generator=generator)
        positions = torch.randperm(length, generator=generator)[:count]
        target[b, positions] = src[b, positions]
        src[b, positions] = task.mask_idx
    net_input = {"src_tokens": src, "src_lengths": torch.tensor(lengths), "src_lang_id": torch.tensor(lang_ids)}
    if lang is not None:
        net_input["lang"] = lang
    return {"net_input": net_input, "target": target, "ntokens": sum(lengths), "nsentences": len(lengths)}


def reference_losses(model, sample, langs, pad, unk=3):
    """{lang: (summed loss, masked tokens)}: every token projected, the masked ones picked in Python."""
    net_input = sample["net_input"]
    logits = model(net_input["src_tokens"], src_lang_id=net_input["src_lang_id"])[0]
    log_probs = logits.log_softmax(-1, dtype=torch.float32)  # as fairseq's cross_entropy computes it
    totals = {lang: [0.0, 0] for lang in langs}
    encoder = model.encoder.sentence_encoder
    for b, lang_id in enumerate(net_input["src_lang_id"].tolist()):
        # with Sep Emb the logits are over the language's own vocabulary: a row per id of it
        # (an id the language lacks is scored as its <unk>)
        vocabulary = encoder.vocabulary_for(lang_id)
        ids = None if vocabulary is None else vocabulary.ids.tolist()
        for t, token in enumerate(sample["target"][b].tolist()):
            if token != pad:
                row = token if ids is None else ids.index(token) if token in ids else ids.index(unk)
                totals[langs[lang_id]][0] -= log_probs[b, t, row].item()
                totals[langs[lang_id]][1] += 1
    return totals


@pytest.mark.parametrize(
    "setting, lang_ids, lengths, masked, lang",
    [
        ("default", [0, 1, 1, 0], [12, 7, 12, 3], [3, 2, 0, 1], None),  # languages mixed, pads, a row unmasked
        ("sep_emb_l1_3", [1, 1, 1], [10, 10, 10], [2, 3, 1], 1),  # no pads, the language given
        ("sep_emb_l1_3", [0, 0], [9, 5], [2, 1], 0),
        ("sep_emb_l1_3", [1, 1], [9, 5], [2, 1], None),  # the language read from src_lang_id
        ("default", [0, 1], [6, 4], [0, 0], None),  # nothing masked: zero loss
    ],
)
def test_criterion_losses_equal_a_plain_computation(bilingual_data, tmp_path, setting, lang_ids, lengths, masked, lang):
    from fairseq.criterions.masked_lm import MaskedLmConfig

    from fairseq_ext.criterions.xling_masked_lm import XlingMaskedLmLoss

    task, model = build_task_and_model(tiny_train_args(bilingual_data, tmp_path, "en,fr", 1, SHARING_SETTINGS[setting]))
    model = model.double().eval()  # no dropout; float64 so that only the loss's own float32 rounding remains
    criterion = XlingMaskedLmLoss(MaskedLmConfig(), task)
    sample = hand_made_sample(task, lang_ids, lengths, masked, lang)

    loss, sample_size, log = criterion(model, sample)
    expected = reference_losses(model, sample, task.langs, task.source_dictionary.pad())
    assert loss.item() == pytest.approx(sum(v[0] for v in expected.values()), rel=1e-6, abs=1e-6)
    assert int(sample_size) == sum(masked)
    for lang, (lang_loss, size) in expected.items():
        assert log[f"loss_{lang}"].item() == pytest.approx(lang_loss, rel=1e-6, abs=1e-6)
        assert int(log[f"sample_size_{lang}"]) == size
    if setting == "default" and sum(masked):
        assert all(size > 0 for _, size in expected.values()), "both languages are in the batch"
