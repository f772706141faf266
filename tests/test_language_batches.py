"""Single-language batches, temperature sampling and language-restricted masking."""

import collections

import numpy as np
import pytest
import torch

from fairseq_ext.data import temperature_probs
from helpers import USER_DIR, build_task_and_model, language_words, make_data


@pytest.fixture(scope="module")
def unequal_data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("unequal"), {"en": (1600, 10), "fr": (200, 10)})


def task_for(data, alpha, *flags, break_mode="eos"):
    return build_task_and_model(
        [str(data), "--user-dir", USER_DIR, "--task", "xling_mlm", "--langs", "en,fr",
         "--arch", "xling_tiny", "--tokens-per-sample", "32", "--sample-break-mode", break_mode,
         "--multilang-sampling-alpha", str(alpha), "--seed", "3", *flags]
    )


def epoch_batches(task, epoch, batch_size=8):
    itr = task.get_batch_iterator(
        task.dataset("train"), max_sentences=batch_size, seed=3, epoch=epoch,
        required_batch_size_multiple=1,
    )
    return list(itr.next_epoch_itr(shuffle=True))


def test_temperature_formula():
    sizes = [900, 100]
    assert np.allclose(temperature_probs(sizes, 1.0), [0.9, 0.1])
    assert np.allclose(temperature_probs(sizes, 0.0), [0.5, 0.5])
    q = temperature_probs(sizes, 0.7)
    assert np.allclose(q, np.array([0.9, 0.1]) ** 0.7 / (0.9**0.7 + 0.1**0.7))


def test_batches_hold_one_language_and_follow_q(unequal_data):
    """Over 4 epochs the share of batches per language is q within 0.02 (absolute)."""
    task, _ = task_for(unequal_data, 0.5)
    task.load_dataset("train")
    sizes = [len(d) for d in task.dataset("train").datasets]
    q = temperature_probs([1600, 200], 0.5)  # one sample per line with --sample-break-mode eos
    counts = collections.Counter()
    sequence = []
    for epoch in range(1, 5):
        for batch in epoch_batches(task, epoch):
            langs = batch["net_input"]["src_lang_id"].unique().tolist()
            assert len(langs) == 1, "a batch mixes languages"
            counts[langs[0]] += 1
            sequence.append(langs[0])
    total = counts[0] + counts[1]
    assert abs(counts[1] / total - q[1]) < 0.02, (counts, q, sizes)
    # batches of the two languages are interleaved, not one language after the other
    switches = sum(a != b for a, b in zip(sequence, sequence[1:]))
    assert switches > total * 0.2


def test_languages_are_resampled_every_epoch(unequal_data):
    task, _ = task_for(unequal_data, 0.5)
    task.load_dataset("train")
    en = task.dataset("train").datasets[0]
    en.set_epoch(1)
    first = set(en._cur_indices.array.tolist())
    en.set_epoch(2)
    second = set(en._cur_indices.array.tolist())
    assert len(first) == len(en) < 1600, "en is subsampled without replacement"
    assert first != second


def replacements(task, lang_id, epochs=3):
    """Token ids put at masked positions that are neither <mask> nor the original token."""
    dataset = task.dataset("train").datasets[lang_id]
    found = []
    for epoch in range(1, epochs + 1):
        dataset.set_epoch(epoch)
        for i in range(len(dataset)):
            item = dataset[i]
            src, tgt = item["net_input.src_tokens"], item["target"]
            masked = tgt.ne(task.source_dictionary.pad())
            random = masked & src.ne(task.mask_idx) & src.ne(tgt)
            found.extend(src[random].tolist())
    return found


def test_random_replacements_stay_in_the_language_with_separate_embeddings(bilingual_data):
    task, _ = task_for(bilingual_data, 1.0, "--lang-specific-embeddings", break_mode="none")
    task.load_dataset("train")
    dictionary = task.source_dictionary
    en_ids = {dictionary.index(w) for w in language_words("en")}
    fr_ids = {dictionary.index(w) for w in language_words("fr")}
    for lang_id, own, other in ((0, en_ids, fr_ids), (1, fr_ids, en_ids)):
        found = replacements(task, lang_id)
        assert len(found) > 50
        assert set(found) <= own and not set(found) & other


def test_shared_embeddings_draw_replacements_from_the_whole_vocabulary(bilingual_data):
    """The control for the test above: without separate embeddings fr text gets en words."""
    task, _ = task_for(bilingual_data, 1.0, break_mode="none")
    task.load_dataset("train")
    en_ids = {task.source_dictionary.index(w) for w in language_words("en")}
    assert set(replacements(task, 1)) & en_ids


def test_masking_rates(bilingual_data):
    """15% of tokens are predicted; of those 80% are <mask>, 10% random, 10% unchanged."""
    task, _ = task_for(bilingual_data, 1.0, break_mode="none")
    task.load_dataset("train")
    pad, mask = task.source_dictionary.pad(), task.mask_idx
    total = predicted = masked = kept = 0
    for i in range(len(task.dataset("train"))):
        item = task.dataset("train")[i]
        src, tgt = item["net_input.src_tokens"], item["target"]
        chosen = tgt.ne(pad)
        total += src.numel()
        predicted += int(chosen.sum())
        masked += int((chosen & src.eq(mask)).sum())
        kept += int((chosen & src.eq(tgt)).sum())
    assert abs(predicted / total - 0.15) < 0.01
    assert abs(masked / predicted - 0.8) < 0.03
    assert abs(kept / predicted - 0.1) < 0.03


def test_batch_language_reaches_the_model(bilingual_data):
    task, model = task_for(bilingual_data, 1.0, "--lang-specific-layers", "2", break_mode="none")
    task.load_dataset("valid")
    batch = next(iter(task.get_batch_iterator(task.dataset("valid"), max_sentences=4).next_epoch_itr()))
    assert "src_lang_id" in batch["net_input"]
    logits, _ = model(**batch["net_input"])
    assert logits.shape[:2] == batch["net_input"]["src_tokens"].shape
    assert torch.isfinite(logits).all()


def test_a_blocks_input_and_target_share_one_draw_which_resume_repeats_and_epochs_change():
    from fairseq.data import Dictionary

    from fairseq_ext.data import LanguageMaskTokensDataset

    vocab = Dictionary()
    for word in "abcdefghij":
        vocab.add_symbol(word)
    mask = vocab.add_symbol("<mask>")
    blocks = [torch.arange(vocab.nspecial, vocab.nspecial + 10) for _ in range(200)]
    kwargs = dict(vocab=vocab, pad_idx=vocab.pad(), mask_idx=mask, seed=5, leave_unmasked_prob=0.0, random_token_prob=0.0)
    source, target = LanguageMaskTokensDataset.apply_mask(blocks, **kwargs)
    first = [(source[i], target[i]) for i in range(len(blocks))]
    for (src, tgt), block in zip(first, blocks):
        predicted = tgt.ne(vocab.pad())
        assert torch.equal(predicted, src.eq(mask)), "the target marks exactly the input's masked positions"
        assert torch.equal(tgt[predicted], block[predicted]) and torch.equal(src[~predicted], block[~predicted])
    again_source, again_target = LanguageMaskTokensDataset.apply_mask(blocks, **kwargs)
    assert all(torch.equal(again_source[i], s) and torch.equal(again_target[i], t) for i, (s, t) in enumerate(first))
    source.set_epoch(2)
    assert sum(not torch.equal(source[i], s) for i, (s, _) in enumerate(first)) > 100, "a new epoch, new masks"
    with pytest.raises(ValueError, match="span masking"):
        LanguageMaskTokensDataset(blocks, **kwargs, mask_multiple_length=3)


def resampled_shares(sizes, alpha, epoch=1):
    """Per-language shares of one epoch of ``temperature_resample`` over ``sizes`` samples,
    counted from the items themselves (each item is its language's id)."""
    from fairseq.data import ListDataset

    from fairseq_ext.data import temperature_resample

    datasets = [ListDataset([torch.tensor([lang])] * n, np.full(n, 4)) for lang, n in enumerate(sizes)]
    grouped, probs = temperature_resample(datasets, [f"l{i}" for i in range(len(sizes))], alpha, seed=3, epoch=epoch)
    langs = grouped.language_of(np.arange(len(grouped)))
    assert all(int(grouped[i][0]) == lang for i, lang in zip(range(0, len(grouped), 97), langs[::97])), \
        "an item of the grouped dataset comes from its own language"
    counts = np.bincount(langs, minlength=len(sizes))
    return counts / counts.sum(), probs, grouped


@pytest.mark.parametrize("alpha", [0.7, 1.0, 0.0])
def test_temperature_resampling_of_five_languages_gives_q(alpha):
    """Five languages of very different sizes (250x from largest to smallest): each
    epoch's share of language l is q_l = p_l^alpha / sum_k p_k^alpha within 1e-4
    (ResamplingDataset rounds each language's size up, at most one sample per language:
    5 / 66,200 = 7.6e-5), and the total number of samples is kept within that rounding."""
    sizes = [50000, 12000, 3000, 1000, 200]
    p = np.array(sizes) / sum(sizes)
    q = p**alpha / (p**alpha).sum()
    for epoch in (1, 2):
        shares, probs, grouped = resampled_shares(sizes, alpha, epoch)
        assert np.allclose(probs, q, rtol=0, atol=1e-12)
        assert np.abs(shares - q).max() < 1e-4, (alpha, shares, q)
        assert 0 <= len(grouped) - sum(sizes) <= len(sizes)
    if alpha == 1.0:
        assert [len(d) for d in grouped.datasets] == sizes, "the natural mix is kept"
    if alpha == 0.0:
        assert np.allclose(q, 0.2)
    if alpha == 0.7:  # the largest language shrinks (without replacement), the others grow
        largest = grouped.datasets[0]
        assert len(set(largest._cur_indices.array.tolist())) == len(largest) < sizes[0]
        assert all(len(d) > n for d, n in zip(grouped.datasets[1:], sizes[1:]))


@pytest.mark.parametrize("alpha", [-0.5, float("nan")])
def test_temperature_resampling_rejects_a_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        resampled_shares([500, 100, 20], alpha)
