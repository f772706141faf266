"""The demo report's claims (fairseq_ext.demo.claims): the one verdict rule, each claim
against its control on constructed numbers, including controls that beat the model, the
transfer results as read from a grid's files, and CKA's bootstrap error bar."""

import json
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from fairseq_ext.analysis import retrieval
from fairseq_ext.analysis.cka import bootstrap_indices, linear_cka, same_layer_bootstrap
from fairseq_ext.analysis.tables import write_csv
from fairseq_ext.demo.claims import (
    CANNOT_TELL,
    CONTRADICTED,
    MARGIN_SE,
    NO_CONTROL,
    NO_ERROR_BAR,
    NO_TRANSFER,
    SUPPORTED,
    binomial_se,
    bli_claims,
    cka_claims,
    pair_claims,
    retrieval_claims,
    transfer_claims,
    verdict,
    word_map_claims,
    write_claims,
)
from fairseq_ext.demo.report import bullet, reading
from fairseq_ext.demo.results import AnalysisResults, TransferResults, read_transfer
from fairseq_ext.transfer.config import load_config
from helpers import REPO

N = 1000


def by_id(claims):
    return {c.id: c for c in claims}


# ---------------------------------------------------------------- the rule


def test_one_rule_with_a_three_standard_error_threshold():
    assert MARGIN_SE == 3.0
    assert verdict(3.0) == verdict(7.2) == SUPPORTED
    assert verdict(2.99) == verdict(0.0) == verdict(-2.99) == CANNOT_TELL
    assert verdict(-3.0) == verdict(-10) == CONTRADICTED


def test_binomial_standard_error():
    assert binomial_se(50, 100) == pytest.approx(5.0)
    assert binomial_se(10, 1000) == pytest.approx(100 * math.sqrt(0.1 * 0.9 / 1000))
    # 0 of n is not an error-free 0: p is kept half an example from the edge
    assert binomial_se(0, 40) == pytest.approx(100 * math.sqrt((0.5 / 40) * (1 - 0.5 / 40) / 40))
    assert binomial_se(100, 40) == pytest.approx(binomial_se(0, 40)) and binomial_se(0, 40) > 0


# ---------------------------------------------------------------- transfer


def transfer(test, majority=34.0, dev=None, dev_majority=30.0, task="bible_genre"):
    """TransferResults of one task: setting -> target test accuracy (%)."""
    return TransferResults(
        test={s: {task: v} for s, v in test.items()},
        dev={s: {task: (dev or {}).get(s, 60.0)} for s in test},
        majority={task: majority}, dev_majority={task: dev_majority}, test_size={task: N}, dev_size={task: 500},
    )


def test_a_setting_transfers_only_above_the_majority_class():
    se = binomial_se(40.0, N)
    claims = by_id(transfer_claims(transfer({"default": 40.0, "sep_emb": 34.5, "sep_l1_3": 20.0}), "en-fr", "fr"))
    default = claims["transfer/fr/bible_genre/default"]
    assert (default.value, default.control, default.control_value) == (40.0, "majority class", 34.0)
    # the majority class is a fixed property of the test set: only the setting's own error
    assert default.se == pytest.approx(se) and default.margin_se == pytest.approx(6.0 / se)
    assert default.verdict == SUPPORTED and default.n == N and default.control_n is None
    assert claims["transfer/fr/bible_genre/sep_emb"].verdict == CANNOT_TELL
    assert claims["transfer/fr/bible_genre/sep_l1_3"].verdict == CONTRADICTED
    # the English dev score and the transfer ratio beside each target score
    assert default.source_value == 60.0 and default.source_control_value == 30.0
    assert default.ratio == pytest.approx((40 - 34) / (60 - 30))


@pytest.mark.parametrize("default_score", [30.0, 34.0, 35.0])
def test_hurts_needs_default_to_transfer_first(default_score):
    """Default below, at, or within noise of the majority class: however far below Default
    a separated setting falls, there is no transfer to compare."""
    claims = by_id(transfer_claims(transfer({"default": default_score, "sep_emb": 5.0, "wiki_cc": 4.0}), "en-fr", "fr"))
    assert claims["transfer/fr/bible_genre/default"].verdict != SUPPORTED
    for setting in ("sep_emb", "wiki_cc"):
        hurts = claims[f"hurts/fr/bible_genre/{setting}-vs-default"]
        assert hurts.margin_se > MARGIN_SE  # the difference alone would have said "supported"
        assert hurts.verdict == NO_TRANSFER


def test_hurts_is_decided_once_default_transfers():
    claims = by_id(transfer_claims(transfer({"default": 50.0, "sep_emb": 40.0, "sep_emb_l1_3": 49.0}), "en-fr", "fr"))
    hurts = claims["hurts/fr/bible_genre/sep_emb-vs-default"]
    assert hurts.direction == -1 and hurts.difference == pytest.approx(-10.0)
    # two independent estimates on the same test size
    assert hurts.se == pytest.approx(math.hypot(binomial_se(40, N), binomial_se(50, N)))
    assert hurts.verdict == SUPPORTED and "4.5" in hurts.paper
    assert claims["hurts/fr/bible_genre/sep_emb_l1_3-vs-default"].verdict == CANNOT_TELL
    # a setting above Default contradicts "X hurts"
    above = by_id(transfer_claims(transfer({"default": 50.0, "sep_emb": 60.0}), "en-fr", "fr"))
    assert above["hurts/fr/bible_genre/sep_emb-vs-default"].verdict == CONTRADICTED
    # and "fewer shared layers hurt more" needs its own reference (Sep Emb) to transfer
    assert claims["transfer/fr/bible_genre/sep_emb"].verdict == SUPPORTED
    assert claims["hurts/fr/bible_genre/sep_emb_l1_3-vs-sep_emb"].verdict == CONTRADICTED


def test_the_settings_come_from_the_results():
    claims = by_id(transfer_claims(transfer({"default": 50.0, "sep_emb_l1_6": 20.0, "custom": 45.0}), "en-fr", "fr"))
    assert set(claims) == {
        "transfer/fr/bible_genre/default", "transfer/fr/bible_genre/sep_emb_l1_6", "transfer/fr/bible_genre/custom",
        "hurts/fr/bible_genre/sep_emb_l1_6-vs-default",
    }
    assert claims["transfer/fr/bible_genre/sep_emb_l1_6"].text.startswith("Sep Emb + L1-6 transfers")


@pytest.mark.parametrize("english", [29.0, 30.0 + 0.5 * MARGIN_SE * binomial_se(30.0, 500)])
def test_no_ratio_when_english_is_not_above_its_majority_class_by_the_margin(english):
    """English below its majority class, or above it within noise: the ratio would be
    noise of any size, so there is none."""
    claims = by_id(transfer_claims(transfer({"default": 40.0}, dev={"default": english}), "en-fr", "fr"))
    assert claims["transfer/fr/bible_genre/default"].ratio is None


def test_read_transfer_takes_the_test_size_and_the_english_majority_from_the_grid(tmp_path):
    task_dir = tmp_path / "data" / "classification" / "bible_genre"
    task_dir.mkdir(parents=True)
    (task_dir / "fr.test.tsv").write_text("".join(f"{'ab'[i % 3 == 0]}\tverset {i}\n" for i in range(7)) + "\n")
    (task_dir / "en.dev.tsv").write_text("a\tverse 1\nb\tverse 2\na\tverse 3\n")
    cfg = load_config(str(REPO / "configs/transfer/standin_classification.yaml"),
                      ["name=bible_genre", "setting=default", "model.name=default", "model.checkpoint=none.pt",
                       f"data.root={tmp_path / 'data'}"])
    config = {k: v for k, v in asdict(cfg).items() if k != "grid"}
    grid = tmp_path / "transfer" / "bible_genre" / "default"
    (grid / "point").mkdir(parents=True)
    (grid / "point" / "result.json").write_text(json.dumps({"config": config}))
    (grid / "summary.json").write_text(json.dumps({
        "column": "bible_genre", "setting": "default", "best_points": ["point"], "dev": 0.6, "test": {"fr": 0.4},
        "majority_baseline": {"dev": 0.3, "fr": 0.34},
    }))
    results = read_transfer(tmp_path / "transfer", "fr")
    assert results.test == {"default": {"bible_genre": pytest.approx(40.0)}}
    assert results.dev_majority == {"bible_genre": pytest.approx(30.0)}
    assert results.majority == {"bible_genre": pytest.approx(34.0)}
    assert results.test_size == {"bible_genre": 7}  # examples, not lines (the blank one is none)
    assert results.dev_size == {"bible_genre": 3}


# ---------------------------------------------------------------- alignment against the random encoder


def retrieval_rows(scores, n=200):
    """comparison -> [(aligned, unaligned) P@1 per layer] as the analysis writes them."""
    return [{"pair": "fr", "comparison": c, retrieval.TEST_SIZE: str(n), "layer": str(layer),
             retrieval.column(True): str(a), retrieval.column(False): str(u)}
            for c, layers in scores.items() for layer, (a, u) in enumerate(layers)]


def test_a_random_encoder_that_beats_the_model_under_the_same_map_is_not_support():
    """The monolingual pair gains a lot from the map (10% vs 0%), but a random encoder under
    the same map does better (30%): neither alignment claim may come out supported."""
    rows = retrieval_rows({"monolingual": [(0.05, 0.0), (0.10, 0.0)], "bilingual": [(0.2, 0.1), (0.3, 0.15)],
                           "random": [(0.30, 0.0), (0.25, 0.01)]})
    claims = by_id(retrieval_claims(rows, "en-fr", "fr"))
    mapped = claims["retrieval/fr/monolingual-map"]
    assert (mapped.value, mapped.control_value) == (pytest.approx(10.0), pytest.approx(30.0))
    assert (mapped.value_layer, mapped.control_layer) == ("L1", "L0")  # each side's best layer
    assert mapped.se == pytest.approx(math.hypot(binomial_se(10, 200), binomial_se(30, 200)))
    assert mapped.verdict == CONTRADICTED
    gain = claims["retrieval/fr/monolingual-map-gain"]
    assert (gain.value, gain.control_value) == (pytest.approx(10.0), pytest.approx(30.0))
    assert gain.verdict == CONTRADICTED
    no_map = claims["retrieval/fr/bilingual-no-map"]
    assert (no_map.value, no_map.control_value) == (pytest.approx(15.0), pytest.approx(1.0))
    assert no_map.verdict == SUPPORTED


def test_retrieval_on_the_same_queries_is_compared_query_by_query():
    """With per-query hits, the model and the random encoder (the same 400 queries) get the
    SE of their per-query differences: queries both find cancel. Here the model finds every
    query the random encoder finds and 16 more (9% vs 5%): 2.2 independent SEs, 4.1 paired;
    a random encoder that finds more is 'contradicted'."""
    n = 400
    random_hits = np.zeros(n, bool)
    random_hits[:20] = True
    model_hits = random_hits.copy()
    model_hits[20:36] = True
    for model, control, verdict in ((model_hits, random_hits, SUPPORTED), (random_hits, model_hits, CONTRADICTED)):
        rows = retrieval_rows({"monolingual": [(model.mean(), 0.0)], "random": [(control.mean(), 0.0)]}, n=n)
        hits = {("fr", c, "0", retrieval.column(aligned)): h for c, h in (("monolingual", model), ("random", control))
                for aligned, h in ((True, h), (False, np.zeros(n, bool)))}
        mapped = by_id(retrieval_claims(rows, "en-fr", "fr", hits))["retrieval/fr/monolingual-map"]
        difference = model.astype(float) - control
        assert mapped.se == pytest.approx(100 * np.std(difference, ddof=1) / math.sqrt(n))
        assert mapped.se < math.hypot(binomial_se(100 * model.mean(), n), binomial_se(100 * control.mean(), n))
        assert "paired over the same 400 queries" in mapped.se_method and mapped.verdict == verdict
        assert mapped.margin_se == pytest.approx((1 if verdict == SUPPORTED else -1) * 4.08, abs=0.01)
    # hits of another test set (a different length) or none: the independent SE
    rows = retrieval_rows({"monolingual": [(model_hits.mean(), 0.0)], "random": [(random_hits.mean(), 0.0)]}, n=n)
    for other in ({k: v[:100] for k, v in hits.items()}, {}):
        mapped = by_id(retrieval_claims(rows, "en-fr", "fr", other))["retrieval/fr/monolingual-map"]
        assert mapped.se_method == "binomial, two independent estimates"
        assert mapped.margin_se == pytest.approx(2.22, abs=0.01) and mapped.verdict == CANNOT_TELL
    # the same hits on every query: half a query's variance, as the binomial SE, not an
    # error-free 0 that would leave the verdict to the sign
    rows = retrieval_rows({"monolingual": [(model_hits.mean(), 0.0)], "random": [(model_hits.mean(), 0.0)]}, n=n)
    same = {("fr", c, "0", retrieval.column(aligned)): model_hits if aligned else np.zeros(n, bool)
            for c in ("monolingual", "random") for aligned in (True, False)}
    mapped = by_id(retrieval_claims(rows, "en-fr", "fr", same))["retrieval/fr/monolingual-map"]
    assert mapped.se == pytest.approx(100 * math.sqrt(0.5 / n * (1 - 0.5 / n) / n))
    assert mapped.margin_se == 0 and mapped.verdict == CANNOT_TELL


def test_retrieval_hits_are_written_per_query_and_read_back(tmp_path):
    torch.manual_seed(0)
    train, test = torch.randn(2, 300, 16), torch.randn(2, 50, 16)
    hits = retrieval.hits_by_layer(train, train + 0.01 * torch.randn_like(train), test, test + 1.5 * torch.randn_like(test))
    rows = retrieval.rows_of(hits)
    assert [r["layer"] for r in rows] == [0, 1] and 0 < rows[0][retrieval.column(True)] < 1
    write_csv(retrieval.hit_rows("fr", "bilingual", hits), tmp_path / retrieval.HITS)
    read = retrieval.read_hits(tmp_path)
    for layer, columns in enumerate(hits):
        for name, h in columns.items():
            assert read["fr", "bilingual", str(layer), name].tolist() == h.tolist()
            assert h.mean() == pytest.approx(rows[layer][name])
    assert retrieval.read_hits(tmp_path / "elsewhere") == {}


def bli_rows(comparisons):
    rows = []
    for comparison, (embedding, contextual) in comparisons.items():
        rows.append({"pair": "fr", "comparison": comparison, "space": "input embeddings", "layer": "", "test_words": "50",
                     "aligned_csls_p@1": str(embedding), "aligned_nn_p@1": "0.9"})
        rows += [{"pair": "fr", "comparison": comparison, "space": "contextual", "layer": str(layer),
                  "test_words": "300", "aligned_csls_p@1": str(p), "aligned_nn_p@1": "0.9"}
                 for layer, p in enumerate(contextual)]
    return rows


def test_word_translation_against_the_random_encoder_or_no_control():
    claims = by_id(bli_claims(bli_rows({"monolingual": (0.02, [0.1, 0.2]), "random": (0.0, [0.01, 0.02])}), "en-fr", "fr"))
    contextual = claims["bli/fr/monolingual/contextual"]
    # CSLS (the last method) is the score; the best contextual layer of each side
    assert (contextual.value, contextual.control_value, contextual.verdict) == (pytest.approx(20.0), pytest.approx(2.0), SUPPORTED)
    assert claims["bli/fr/monolingual/input-embeddings"].verdict == CANNOT_TELL  # 50 words: too few
    missing = by_id(bli_claims(bli_rows({"monolingual": (0.02, [0.1, 0.2])}), "en-fr", "fr"))
    assert {c.verdict for c in missing.values()} == {NO_CONTROL}
    assert all(c.control_value is None and c.margin_se is None for c in missing.values())
    assert "no random encoder" in bullet(missing["bli/fr/monolingual/contextual"])


def test_word_maps_against_the_random_encoder():
    rows = [{"pair": "fr", "comparison": c, "layer": str(layer), "pairs": "400", "aligned_p@1": str(p),
             "unaligned_p@1": "0.0"} for c, ps in {"monolingual": [0.05, 0.06], "random": [0.2, 0.3]}.items()
            for layer, p in enumerate(ps)]
    (claim,) = word_map_claims(rows, "en-fr", "fr")
    assert claim.id == "word_maps/fr/monolingual" and claim.verdict == CONTRADICTED


# ---------------------------------------------------------------- CKA


def cka_results(values, ses=None, replicates=None):
    """values: (pair, comparison) -> CKA per layer (the average is added)."""
    rows, boot = [], {}
    for (pair, comparison), layers in values.items():
        for layer, value in [*((f"L{i}", v) for i, v in enumerate(layers)), ("average", float(np.mean(layers)))]:
            row = {"pair": pair, "comparison": comparison, "layer": layer, "cka": str(value), "sentences": "500"}
            if ses is not None:
                row["cka_se"] = str(ses)
            rows.append(row)
            if replicates is not None:
                boot[pair, comparison, layer] = replicates[pair, comparison] + value
    return AnalysisResults(cka=rows, cka_bootstrap=boot)


def test_cka_is_judged_against_the_random_encoder_and_english_prime_with_bootstrap_errors():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 0.01, 200)  # resamples of the same sentences move together
    replicates = {("fr", "monolingual"): shared + rng.normal(0, 0.002, 200),
                  ("fr", "random"): shared + rng.normal(0, 0.002, 200),
                  ("fr", "bilingual"): shared + rng.normal(0, 0.002, 200),
                  ("en2", "same_model"): rng.normal(0, 0.01, 200)}
    values = {("fr", "monolingual"): [0.30, 0.30], ("fr", "random"): [0.40, 0.305],  # the control beats the model
              ("fr", "bilingual"): [0.50, 0.50], ("en2", "same_model"): [0.80, 0.80]}
    claims = by_id(cka_claims(cka_results(values, 0.01, replicates), "en-fr", "fr"))
    random = claims["cka/fr/monolingual-vs-random/L0"]
    # the paired bootstrap: the difference's own replicates, far tighter than the two errors apart
    paired = np.std(replicates["fr", "monolingual"] - replicates["fr", "random"], ddof=1)
    assert random.se == pytest.approx(paired) and random.se < 0.005 and "paired bootstrap" in random.se_method
    assert random.verdict == CONTRADICTED
    assert claims["cka/fr/monolingual-vs-random/L1"].verdict == CANNOT_TELL
    assert claims["cka/fr/monolingual-vs-random/average"].verdict == CONTRADICTED
    assert claims["cka/fr/bilingual-vs-monolingual/average"].verdict == SUPPORTED
    assert claims["cka/fr/bilingual-vs-random/L1"].verdict == SUPPORTED
    # English′ is another text: the two bootstrap errors count as independent
    prime = claims["cka/fr/monolingual-vs-same_model/L0"]
    assert prime.control == "en2 same_model" and prime.direction == -1
    assert prime.se == pytest.approx(math.hypot(0.01, 0.01)) and "independent" in prime.se_method
    assert prime.verdict == SUPPORTED  # 0.30 well below 0.80
    # one bullet per comparison, its layers beside the average
    items = [i for i in reading(list(claims.values())) if "random encoder" in i and i.startswith("Independently")]
    assert len(items) == 1 and "**contradicted**" in items[0] and "per layer: L0 contradicted" in items[0]


def test_cka_without_a_bootstrap_decides_nothing():
    claims = cka_claims(cka_results({("fr", "monolingual"): [0.3], ("fr", "random"): [0.1]}), "en-fr", "fr")
    assert claims and {c.verdict for c in claims} == {NO_ERROR_BAR}


# ---------------------------------------------------------------- a pair, claims.json


def test_claims_json_holds_one_record_per_claim(tmp_path):
    analysis = AnalysisResults(retrieval=retrieval_rows({"monolingual": [(0.1, 0.0)]}),
                               cka=cka_results({("fr", "monolingual"): [float("nan")], ("fr", "random"): [0.1]}, 0.01).cka)
    claims = pair_claims("en-fr", "fr", transfer({"default": 30.0, "sep_emb": 20.0}), analysis)
    path = write_claims(tmp_path / "claims.json", claims)
    saved = json.loads(path.read_text())
    assert saved["margin_se"] == MARGIN_SE and "3 SE" in saved["rule"]
    records = saved["claims"]
    assert [r["id"] for r in records] == [c.id for c in claims] and len({r["id"] for r in records}) == len(records)
    for record in records:
        assert {"metric", "value", "control", "control_value", "margin_se", "verdict", "threshold", "se"} <= set(record)
    nan = next(r for r in records if r["id"] == "cka/fr/monolingual-vs-random/L0")
    assert nan["value"] is None and nan["verdict"] == NO_ERROR_BAR  # NaN, which JSON lacks, as null
    assert by_id(claims)["hurts/fr/bible_genre/sep_emb-vs-default"].verdict == NO_TRANSFER


# ---------------------------------------------------------------- CKA's bootstrap


@pytest.mark.parametrize("debiased", [False, True])
def test_the_vectorised_bootstrap_is_cka_of_each_resample(debiased):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 7)) + 4.0  # an offset: the resamples' own centring matters
    y = x @ rng.normal(size=(7, 5)) + rng.normal(size=(60, 5))
    indices = bootstrap_indices(60, 12, seed=1)
    replicates = same_layer_bootstrap([x, y], [y, 2 * x], indices, debiased)
    assert replicates.shape == (12, 2)
    for row, rows in zip(replicates, indices):
        assert row[0] == pytest.approx(linear_cka(x[rows], y[rows], debiased), rel=1e-9, abs=1e-12)
        assert row[1] == pytest.approx(linear_cka(y[rows], x[rows], debiased), rel=1e-9, abs=1e-12)


def test_bootstrap_indices_are_seeded_and_shared_by_comparisons_of_the_same_sentences():
    assert np.array_equal(bootstrap_indices(50, 10, 1), bootstrap_indices(50, 10, 1))
    assert not np.array_equal(bootstrap_indices(50, 10, 1), bootstrap_indices(50, 10, 2))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    y = x + rng.normal(size=(400, 6))
    few = same_layer_bootstrap([x[:100]], [y[:100]], bootstrap_indices(100, 100, 1))
    many = same_layer_bootstrap([x], [y], bootstrap_indices(400, 100, 1))
    assert 1.5 < few.std() / many.std() < 3  # about sqrt(4): the error bar shrinks with the sentences
