"""Training throughput of the plugin against stock fairseq and a plain transformers loop.

Systems, all at the same dimensions, data, batch, masking, optimizer and seed:

- ``stock``: fairseq ``masked_lm`` task + ``roberta`` model (one language);
- ``xling_default``: ``xling_mlm`` + ``xling_roberta``, everything shared (two languages);
- ``xling_sep_emb_l1_3``: the same with separate embeddings and layers 1-3;
- ``xling_default_fused``, ``xling_sep_emb_l1_3_fused``: the same on ``xling_adam``, the
  optimizer the launcher and the demo use (torch's fused AdamW, or apex's FusedAdam on
  GPUs that have it) instead of fairseq's ``adam`` (the "before" of the speed-up);
- ``*_loops``: any xling system with fairseq's per-parameter loops in the fp16/bf16
  master-weight optimizer and the gradient norm restored (``fairseq_ext.mixed_precision``
  uninstalled: the "before" of that speed-up);
- ``*_fairseq_layer``: any xling system built with fairseq's encoder layer instead of
  ``XlingEncoderLayer`` (the "before" of the leaner layer forward);
- ``hf``: transformers ``XLMRobertaForMaskedLM`` trained by a plain PyTorch loop on the
  same masked batches, its LM head scoring every position as run_mlm does (the loss on the
  masked ones);
- ``hf_masked_head``: the same loop projecting only the masked positions (as the plugin's
  head does).

Batches come from each system's task (fairseq ``masked_lm`` for stock, ``xling_mlm`` for the
plugin and the transformers loops) through the task's epoch iterator inside the timed loop,
so fetching, masking and collating are timed. ``--data-buffer-size 0`` (the default) runs
the loader in the training thread, so all its time falls inside the timed window;
fairseq-train's default of 10 prefetches in a background thread.

Vocabulary (``--vocab``): ``synthetic`` (124 pieces, or the folder given as --data-dir),
``joint`` (one dictionary of --vocab-size entries), ``union`` (two per-language
vocabularies of --vocab-size / 2 entries, a tenth of them shared, their union the
dictionary), or ``paper`` (the paper's per row: Default, stock fairseq and the
transformers loops on joint, the Sep rows on union). The text is Zipf-distributed over
each language's vocabulary, binarized by fairseq-preprocess once and cached under
--data-dir.

Each (system, round) runs in a fresh process, so peak memory is per system, and the
systems alternate round by round, so machine noise hits them alike. Ratios are printed
pair by pair (same round). MFU = achieved model FLOP/s over the measured peak of a large
matmul on the same device (and, on a GPU, over the spec peak given by --spec-tflops).

    python bench/train_throughput.py                       # CPU defaults
    python bench/train_throughput.py --device cuda --dtype bf16 --dim 768 --ffn 3072 \
        --heads 12 --seq 256 --batch 32 --spec-tflops 989 --vocab paper --data-dir /tmp/xling_bench
"""

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # fairseq_ext, when run as a script from anywhere
HF_SYSTEMS = ("hf", "hf_masked_head")
SYSTEMS = ("stock", "xling_default", "xling_sep_emb_l1_3", "xling_default_fused", "xling_sep_emb_l1_3_fused",
           *HF_SYSTEMS)
SYSTEM_PATTERN = re.compile(r"stock|hf|hf_masked_head|xling_(default|sep_emb_l1_3)(_fused)?(_loops)?(_fairseq_layer)?")
VARIANTS = ("_loops", "_fairseq_layer")  # xling system + suffix: the "before" of one speed-up
VOCABS = ("synthetic", "joint", "union", "paper")
SHARED_EVERY = 10  # union: every 10th rank of a language's vocabulary is a piece both languages have


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help="comma-separated, from " + ",".join(SYSTEMS) + " and any xling system + _loops")
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.1, help="dropout and attention dropout (the paper: 0.1)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: every core)")
    p.add_argument("--seq", type=int, default=128, help="tokens per sample (stream length)")
    p.add_argument("--batch", type=int, default=16, help="streams per batch")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--steps", type=int, default=15, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--spec-tflops", type=float, default=None, help="the device's spec peak for --dtype (GPU)")
    p.add_argument("--vocab", default="synthetic", choices=VOCABS,
                   help="synthetic: 124 pieces; joint: one dictionary of --vocab-size; union: two of "
                   "--vocab-size / 2; paper: joint for Default, stock and hf, union for the Sep rows")
    p.add_argument("--vocab-size", type=int, default=80000, help="joint dictionary size (the paper: 80k)")
    p.add_argument("--data-buffer-size", type=int, default=0,
                   help="batches the loader prefetches in a background thread (0: in the training thread, "
                   "so the timed window holds all of its time; fairseq-train's default is 10)")
    p.add_argument("--data-dir", default=None,
                   help="a binarized folder (has dict.txt: every system reads it), or where the generated "
                   "folders are cached (default: a new temporary folder)")
    p.add_argument("--json", default=None, help="also write all results to this file")
    p.add_argument("--profile", default=None, help="folder: each system profiles 5 more steps into <system>.txt")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- workers


def fairseq_argv(args, system, data):
    common = [
        "--tokens-per-sample", str(args.seq), "--batch-size", str(args.batch),
        "--sample-break-mode", "none", "--max-positions", str(args.seq),
        "--encoder-layers", str(args.layers), "--encoder-embed-dim", str(args.dim),
        "--encoder-ffn-embed-dim", str(args.ffn), "--encoder-attention-heads", str(args.heads),
        "--dropout", str(args.dropout), "--attention-dropout", str(args.dropout),
        "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--adam-eps", "1e-6", "--lr", "1e-4",
        "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "1000",
        "--num-workers", "0", "--seed", "1", "--ddp-backend", "legacy_ddp",
        "--required-batch-size-multiple", "1", "--data-buffer-size", str(args.data_buffer_size),
    ]
    if args.device == "cpu":
        common.append("--cpu")
    common += {"bf16": ["--bf16"], "fp16": ["--fp16"], "fp32": []}[args.dtype]
    if system == "stock":
        return [str(data / "en"), "--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta", *common]
    xling = [str(data), "--user-dir", str(REPO / "fairseq_ext"), "--task", "xling_mlm", "--langs", "en,fr",
             "--criterion", "xling_masked_lm", "--arch", "xling_roberta", *common]
    if system.startswith("xling_sep_emb_l1_3"):
        xling += ["--lang-specific-embeddings", "--lang-specific-layers", "3"]
    if "_fused" in system:
        xling += ["--optimizer", "xling_adam"]  # argparse: the last --optimizer wins
    return xling


def build_trainer(argv):
    from fairseq import options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    # fairseq's argparse ties --bf16 to --tpu, which would also send stock masked_lm down
    # its TPU path (the LM head on every token); this bench never runs on a TPU
    args.tpu = False
    cfg = convert_namespace_to_omegaconf(args)
    utils.import_user_module(cfg.common)
    from fairseq_ext import patches

    patches.apply()  # stock masked_lm too: its trainer gets the same fixes the figures were taken with
    np.random.seed(1)
    utils.set_torch_seed(1)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    return trainer, task


def loader_batches(epoch_itr):
    """Batches as fairseq-train takes them: from the task's epoch iterator, epoch after epoch."""
    while True:
        yield from epoch_itr.next_epoch_itr(shuffle=True)


def run_fairseq(args, system, data):
    if system.endswith("_fairseq_layer"):
        from fairseq.models.transformer import TransformerEncoder

        from fairseq_ext.models.xling_roberta import LanguageAwareTransformerEncoder

        LanguageAwareTransformerEncoder.build_encoder_layer = TransformerEncoder.build_encoder_layer
    trainer, _ = build_trainer(fairseq_argv(args, system, data))
    if "_loops" in system:
        from fairseq_ext import mixed_precision

        mixed_precision.uninstall()
    batches = loader_batches(trainer.get_train_iterator(epoch=1, load_dataset=True))
    params = sum(p.numel() for p in trainer.model.parameters())
    return time_steps(args, system, lambda batch: trainer.train_step([batch]), batches), params, output_widths(trainer.model)


def output_widths(model):
    """{language id: logits per masked token} where the LM head scores a language's own
    vocabulary (Sep Emb); empty where it scores the whole dictionary."""
    encoder = model.encoder.sentence_encoder
    if not getattr(encoder, "vocabularies", None):
        return {}
    return {lang: len(encoder.vocabulary_for(lang)) for lang in range(encoder.num_langs)}


def run_hf(args, system, data):
    """A plain transformers loop on xling_default's batches, from its task's loader.

    ``hf`` scores every position with the LM head, as run_mlm does, and takes the loss on the
    masked ones; ``hf_masked_head`` projects only the masked positions.
    """
    import torch
    import torch.nn.functional as F
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    # the fairseq trainer only serves batches here: a one-layer, 8-dim model gives the same
    # iterator (it depends on the task, the data and max_positions), and its memory stays
    # out of this process's peak
    minimal = ["--encoder-layers", "1", "--encoder-embed-dim", "8", "--encoder-ffn-embed-dim", "8",
               "--encoder-attention-heads", "1"]
    trainer, task = build_trainer(fairseq_argv(args, "xling_default", data) + minimal)
    batches = loader_batches(trainer.get_train_iterator(epoch=1, load_dataset=True))
    pad = task.source_dictionary.pad()
    del trainer
    torch.manual_seed(1)
    config = XLMRobertaConfig(
        vocab_size=len(task.source_dictionary), hidden_size=args.dim, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=args.ffn, max_position_embeddings=args.seq + pad + 1,
        type_vocab_size=1, pad_token_id=pad, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5,
        hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
    )
    device = torch.device(args.device)
    model = XLMRobertaForMaskedLM(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.0)
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[args.dtype]

    def loss_all_positions(tokens, target):
        labels = target.masked_fill(target.eq(pad), -100)
        return model(input_ids=tokens, attention_mask=tokens.ne(pad), labels=labels).loss

    def loss_masked_positions(tokens, target):
        masked = target.ne(pad)
        hidden = model.roberta(input_ids=tokens, attention_mask=tokens.ne(pad)).last_hidden_state
        return F.cross_entropy(model.lm_head(hidden[masked]), target[masked])

    loss_fn = loss_all_positions if system == "hf" else loss_masked_positions

    def step(batch):
        tokens = batch["net_input"]["src_tokens"].to(device)
        target = batch["target"].to(device)
        with torch.autocast(args.device, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = loss_fn(tokens, target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return time_steps(args, system, step, batches), sum(p.numel() for p in model.parameters())


def time_steps(args, system, step, batches):
    """Warm up, then time steps that each take their batch from ``batches`` (the loader is
    timed too); with --profile, profile a few more steps after. The timed batches."""
    for _ in range(args.warmup):
        step(next(batches))
    sync(args.device)
    timed = []
    start = time.perf_counter()
    for _ in range(args.steps):
        timed.append(next(batches))
        step(timed[-1])
    sync(args.device)
    seconds = time.perf_counter() - start
    if args.profile:
        profile_steps(args, system, step, batches)
    return timed, seconds


def profile_steps(args, system, step, batches, count=5):
    """Write the top operators of ``count`` steps (loader included) and how busy the device
    was to PROFILE/<system>.txt."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    sync(args.device)
    start = time.perf_counter()
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(count):
            step(next(batches))
        sync(args.device)
    wall = time.perf_counter() - start
    events = prof.key_averages()
    sort_by = "self_device_time_total" if args.device == "cuda" else "self_cpu_time_total"
    lines = [f"{system}: {count} steps, {wall * 1e3 / count:.1f} ms/step under the profiler"]
    if args.device == "cuda":
        # kernels only: record_function ranges (forward, optimizer, ...) also show on the GPU timeline
        kernel_us = sum(
            e.self_device_time_total for e in prof.events()
            if e.device_type == torch.autograd.DeviceType.CUDA and not e.is_user_annotation
        )
        lines.append(f"device busy {kernel_us / 1e3 / count:.1f} ms/step = "
                     f"{100 * kernel_us / 1e6 / wall:.0f}% of wall time")
    lines.append(events.table(sort_by=sort_by, row_limit=30, max_name_column_width=60))
    lines.append("by input shapes (which copies, which GEMMs):")
    lines.append(prof.key_averages(group_by_input_shape=True).table(
        sort_by=sort_by, row_limit=40, max_name_column_width=30, max_shapes_column_width=80))
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{system}.txt").write_text("\n".join(lines))


def threads(args):
    """--threads, or every core this process may run on (taskset narrows that; os.cpu_count does not)."""
    return args.threads or len(os.sched_getaffinity(0))


def sync(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


_cuda_peak = [0]


def keep_cuda_peak_over_resets():
    """fairseq's trainer resets CUDA's peak-memory counter every step: keep the maximum."""
    import torch

    reset = torch.cuda.reset_peak_memory_stats

    def remembering_reset(device=None):
        _cuda_peak[0] = max(_cuda_peak[0], torch.cuda.max_memory_allocated(device))
        reset(device)

    torch.cuda.reset_peak_memory_stats = remembering_reset


def peak_memory_mb(device):
    import torch

    if device == "cuda":
        return max(_cuda_peak[0], torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(args):
    import torch

    if args.device == "cpu":
        torch.set_num_threads(threads(args))
    else:
        keep_cuda_peak_over_resets()
    data = Path(args.data_dir)
    if args.worker in HF_SYSTEMS:
        (batches, seconds), params = run_hf(args, args.worker, data)
        widths = {}
    else:
        (batches, seconds), params, widths = run_fairseq(args, args.worker, data)
    tokens = sum(int(b["ntokens"]) for b in batches)
    masked_per_batch = [int(b["target"].ne(1).sum()) for b in batches]
    masked = sum(masked_per_batch)
    # the LM head's width per masked token, over the timed batches' languages
    width = sum(
        count * widths.get(b["net_input"].get("lang"), dictionary_size(data)) for b, count in zip(batches, masked_per_batch)
    ) / max(masked, 1)
    print(json.dumps({
        "system": args.worker, "tokens_per_s": tokens / seconds, "seconds": seconds, "tokens": tokens,
        "masked_fraction": masked / tokens, "head_width": width, "params": params,
        "peak_memory_mb": peak_memory_mb(args.device),
    }))


# ---------------------------------------------------------------------------- driver


def flops_per_token(args, head_width, masked_fraction):
    """Training FLOPs per token (forward + backward = 3 x forward, 2 FLOPs per multiply-add).

    ``head_width``: the logits per masked token (the dictionary, or with Sep Emb the language's own vocabulary)."""
    d, f, layers, seq = args.dim, args.ffn, args.layers, args.seq
    matmul = layers * (4 * d * d + 2 * d * f)  # q, k, v, out projections and the FFN
    attention = layers * 2 * seq * d  # scores and weighted sum, per token
    return 6 * (matmul + attention) + masked_fraction * head_flops_per_masked_token(args, head_width)


def head_flops_per_masked_token(args, head_width):
    """The LM head's training FLOPs per masked token: its dense layer and the output projection."""
    return 6 * (args.dim * args.dim + args.dim * head_width)


def measured_peak_flops(device, dtype):
    import torch

    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    n = 2048 if device == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=torch_dtype)
    b = torch.randn(n, n, device=device, dtype=torch_dtype)
    # into one preallocated output: on CPU a fresh 2048^2 result is a new mmap each time, and
    # its page faults cost more than the matmul itself on AMX (bf16, one core: 350-390 vs 900-930 GFLOP/s)
    out = torch.empty(n, n, device=device, dtype=torch_dtype)
    best = float("inf")
    for _ in range(10):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def system_vocab(args, system):
    """The vocabulary setting a system trains on (--vocab paper: the paper's per row)."""
    if args.vocab != "paper":
        return args.vocab
    return "union" if system.startswith("xling_sep") else "joint"


def vocabulary(setting, size):
    """Each language's pieces, most frequent first.

    joint: one list of ``size`` pieces for both; union: ``size // 2`` per language, every
    SHARED_EVERY-th rank a piece of both (so each language's text is mostly its own ids,
    and the union has about 0.95 x size entries); synthetic: 60 words per language, none shared.
    """
    if setting == "synthetic":
        from fairseq_ext.synthetic import language_words

        return {lang: language_words(lang) for lang in ("en", "fr")}
    if setting == "joint":
        pieces = [f"p{i}" for i in range(size)]
        return {"en": pieces, "fr": pieces}
    return {lang: [f"s{r}" if r % SHARED_EVERY == 0 else f"{lang}{r}" for r in range(size // 2)]
            for lang in ("en", "fr")}


def write_zipf_text(path, words, lines, seed):
    """``lines`` lines of 5-20 words drawn with probability 1/rank, in one vectorised draw
    (fairseq_ext.synthetic.write_text draws line by line, O(vocabulary) each)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 21, size=lines)
    cdf = np.cumsum(1.0 / np.arange(1, len(words) + 1))
    ids = np.searchsorted(cdf, rng.random(lengths.sum()) * cdf[-1], side="right")
    tokens = np.asarray(words, dtype=object)[np.minimum(ids, len(words) - 1)]
    text = "\n".join(" ".join(line) for line in np.split(tokens, np.cumsum(lengths)[:-1]))
    Path(path).write_text(text + "\n", encoding="utf-8")


def lines_needed(args):
    """Training lines per language so that one epoch serves a worker's steps in one language;
    a power of two, so that runs of similar sizes share a cached folder."""
    tokens = args.batch * args.seq * (args.warmup + args.steps + (5 if args.profile else 0))
    return 2 ** math.ceil(math.log2(max(2048, tokens / 12)))  # 12.5 words + </s> per line


def ensure_data(args, setting="synthetic"):
    """The binarized folder of ``setting``: --data-dir itself when it is one, else made once
    under --data-dir (a new temporary folder without one) and reused after."""
    given = Path(args.data_dir) if args.data_dir else None
    if given and (given / "dict.txt").exists():
        if setting != "synthetic":
            raise SystemExit(f"--data-dir {given} is a binarized folder; --vocab {args.vocab} needs a cache folder")
        return given
    from fairseq_ext.synthetic import binarize

    root = given or Path(tempfile.mkdtemp(prefix="xling_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    lines = lines_needed(args)
    name = f"{setting}{args.vocab_size if setting != 'synthetic' else ''}_{lines}lines_lexicon"
    if (root / name / "bin" / "dict.txt").exists():
        return root / name / "bin"
    building = Path(tempfile.mkdtemp(prefix=name + ".", dir=root))  # renamed when complete
    words = vocabulary(setting, args.vocab_size)
    (building / "bin").mkdir()
    dictionary = dict.fromkeys(word for lang_words in words.values() for word in lang_words)  # ordered union
    (building / "bin" / "dict.txt").write_text("".join(f"{word} 1\n" for word in dictionary), encoding="utf-8")
    with tempfile.TemporaryDirectory() as raw:  # the text is not needed once binarized
        for i, (lang, lang_words) in enumerate(words.items()):
            text = {split: Path(raw) / f"{lang}.{split}" for split in ("train", "valid")}
            write_zipf_text(text["train"], lang_words, lines, seed=10 * i)
            with open(text["train"], "a", encoding="utf-8") as f:
                # every piece once, so each language's vocabulary (Sep Emb's table) is all of its pieces,
                # as a real corpus's is, not just the Zipf draws' head
                f.writelines(" ".join(lang_words[start : start + 20]) + "\n" for start in range(0, len(lang_words), 20))
            write_zipf_text(text["valid"], lang_words, 50, seed=10 * i + 1)
            binarize(building / "bin" / "dict.txt", text["train"], text["valid"], building / "bin" / lang)
    os.replace(building, root / name)
    return root / name / "bin"


def dictionary_size(data):
    """The model's vocabulary: dict.txt's entries, fairseq's 4 specials and <mask>."""
    return len((data / "dict.txt").read_text(encoding="utf-8").splitlines()) + 5


def drop_option(argv, name):
    """argv without `name VALUE` or `name=VALUE`."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            kept.append(arg)
    return kept


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    systems = args.systems.split(",")
    unknown = [s for s in systems if not SYSTEM_PATTERN.fullmatch(s)]
    if unknown:
        raise SystemExit(f"--systems: unknown {unknown}; choose from {SYSTEMS} or an xling system + {VARIANTS}")
    args.data_dir = args.data_dir or tempfile.mkdtemp(prefix="xling_bench_")  # one cache for every setting
    folders = {s: ensure_data(args, system_vocab(args, s)) for s in systems}
    data_path = (f"loader in the timed loop: each step takes its batch from the task's epoch iterator "
                 f"(fetch, mask, collate timed), data buffer {args.data_buffer_size}")
    print(data_path)
    for system, folder in folders.items():
        print(f"{system:26s} {system_vocab(args, system):9s} vocabulary {dictionary_size(folder):6d}  {folder}")
    if args.rounds == 0:  # data only, e.g. made here and carried to a GPU machine
        return
    import torch

    torch.set_num_threads(threads(args))  # the matmul peak with the workers' threads
    peak_before = measured_peak_flops(args.device, args.dtype)
    passthrough = drop_option(argv if argv is not None else sys.argv[1:], "--data-dir")
    results = {s: [] for s in systems}
    for round_index in range(args.rounds):
        for system in systems:
            cmd = [sys.executable, __file__, *passthrough, "--data-dir", str(folders[system]), "--worker", system]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if done.returncode != 0:
                raise SystemExit(f"{system} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results[system].append(result)
            print(f"round {round_index + 1} {system:26s} {result['tokens_per_s']:10.0f} tokens/s "
                  f"peak {result['peak_memory_mb']:8.0f} MB", flush=True)

    peak = max(peak_before, measured_peak_flops(args.device, args.dtype))  # the harsher denominator
    print(f"\nmeasured matmul peak (best before / after): {peak / 1e12:.3f} TFLOP/s ({args.device}, {args.dtype}, "
          f"{threads(args) if args.device == 'cpu' else 'device'} threads)")
    summary = {"config": vars(args), "data_path": data_path, "peak_flops": peak, "systems": {}}
    for system, runs in results.items():
        tps = statistics.median(r["tokens_per_s"] for r in runs)
        vocab = dictionary_size(folders[system])
        width = runs[0].get("head_width", vocab)
        fpt = flops_per_token(args, width, runs[0]["masked_fraction"])
        head = head_flops_per_masked_token(args, width)
        record = {"vocab": system_vocab(args, system), "vocab_size": vocab, "data": str(folders[system]),
                  "head_width": width, "head_flops_per_masked_token": head,
                  "tokens_per_s": [r["tokens_per_s"] for r in runs], "flops_per_token": fpt,
                  "mfu": tps * fpt / peak, "peak_memory_mb": max(r["peak_memory_mb"] for r in runs), "runs": runs}
        line = (f"{system:26s} median {tps:10.0f} tokens/s  {fpt / 1e6:7.1f} MFLOP/token  "
                f"LM head {width:7.0f} logits, {head / 1e6:6.1f} MFLOP/masked token  "
                f"peak memory {record['peak_memory_mb']:8.0f} MB  MFU {100 * record['mfu']:5.1f}%")
        if args.spec_tflops:
            record["mfu_spec"] = tps * fpt / (args.spec_tflops * 1e12)
            line += f" (of spec: {100 * record['mfu_spec']:5.1f}%)"
        print(line)
        summary["systems"][system] = record
    comparisons = [(s, "stock") for s in systems if s != "stock"]
    comparisons += [(s, h) for s in systems if s.startswith("xling") for h in HF_SYSTEMS]
    comparisons.append(("hf_masked_head", "hf"))  # what scoring every position costs
    # after / before: fused Adam over fairseq's adam, foreach kernels over fairseq's loops
    comparisons += [(s, s.replace("_fused", "")) for s in systems if "_fused" in s]
    comparisons += [(s.replace(v, ""), s) for s in systems for v in VARIANTS if v in s]
    for system, reference in comparisons:
        if system in results and reference in results:
            ratios = [a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(results[system], results[reference])]
            print(f"{system} / {reference}, round by round: " + ", ".join(f"{r:.3f}" for r in ratios)
                  + f"  (median {statistics.median(ratios):.3f})")
            summary["systems"][system][f"ratio_to_{reference}"] = ratios
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
