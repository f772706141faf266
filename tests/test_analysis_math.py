"""Properties of the analysis maths: CKA, Procrustes with iterative normalisation, CSLS."""

import numpy as np
import pytest
import torch

from fairseq_ext.analysis.cka import cka_matrix, linear_cka
from fairseq_ext.analysis.neighbours import precision_at_k, retrieve
from fairseq_ext.analysis.procrustes import IterativeNormalization, OrthogonalMap, procrustes


def random_orthogonal(d, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def kernel_hsic(k, l, debiased):
    """HSIC straight from n x n kernels, as the papers write it."""
    n = k.shape[0]
    if not debiased:
        h = np.eye(n) - np.ones((n, n)) / n
        return np.trace(k @ h @ l @ h)
    k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return (
        np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * one @ k @ l @ one
    ) / (n * (n - 3))


def kernel_cka(x, y, debiased):
    x, y = x - x.mean(0), y - y.mean(0)  # Kornblith et al. centre the features first
    k, l = x @ x.T, y @ y.T
    return kernel_hsic(k, l, debiased) / np.sqrt(kernel_hsic(k, k, debiased) * kernel_hsic(l, l, debiased))


@pytest.fixture
def related():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 12)) + 3.0  # offset: centring must matter
    y = x @ rng.normal(size=(12, 9)) + 0.5 * rng.normal(size=(60, 9))
    return x, y


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_matches_the_kernel_formula(related, debiased):
    x, y = related
    assert linear_cka(x, y, debiased) == pytest.approx(kernel_cka(x, y, debiased), rel=1e-9, abs=1e-12)
    z = np.random.default_rng(5).normal(size=x.shape)  # unrelated: near 0 (debiased can go below)
    assert linear_cka(x, z, debiased) == pytest.approx(kernel_cka(x, z, debiased), rel=1e-9, abs=1e-12)
    assert abs(linear_cka(x, z, debiased)) < 0.4 < linear_cka(x, y, debiased)


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_invariances(related, debiased):
    x, y = related
    base = linear_cka(x, y, debiased)
    assert linear_cka(x, x, debiased) == pytest.approx(1.0)
    rotated = x @ random_orthogonal(12, 1)
    assert linear_cka(rotated, y, debiased) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x, 7.5 * y, debiased) == pytest.approx(base, rel=1e-9)
    assert linear_cka(rotated * 0.01, y @ random_orthogonal(9, 2) * 40, debiased) == pytest.approx(base, rel=1e-9)
    # not invariant to an arbitrary invertible map (the reason to prefer CKA over CCA)
    stretch = np.diag(np.geomspace(0.05, 20, 12))
    assert abs(linear_cka(x @ stretch, y, debiased) - base) > 1e-3


def test_cka_matrix_of_layers(related):
    x, y = related
    matrix = cka_matrix([x, y, 2 * x], [y, x])
    assert matrix.shape == (3, 2)
    assert matrix[0, 1] == pytest.approx(1.0) and matrix[2, 1] == pytest.approx(1.0)
    assert matrix[0, 0] == pytest.approx(matrix[1, 1]) == pytest.approx(kernel_cka(x, y, False))
    with pytest.raises(ValueError, match="same number of rows"):
        cka_matrix([x], [y[:-1]])


def test_procrustes_recovers_a_rotation():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(200, 16)))
    w = torch.tensor(random_orthogonal(16, 4))
    assert torch.allclose(procrustes(x, x @ w), w, atol=1e-10)
    noisy = x @ w + 0.05 * torch.tensor(rng.normal(size=(200, 16)))
    learned = procrustes(x, noisy)
    assert torch.allclose(learned.T @ learned, torch.eye(16, dtype=learned.dtype), atol=1e-10)
    assert (learned - w).abs().max() < 0.05


def test_iterative_normalization_gives_unit_centred_vectors():
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(500, 8)) * np.geomspace(1, 30, 8) + 5.0)
    norm = IterativeNormalization(rounds=5).fit(x)
    z = norm(x)
    assert torch.allclose(z.norm(dim=1), torch.ones(500, dtype=z.dtype))
    assert z.mean(0).norm() < 1e-2 < F_mean_norm(x)
    # fitted statistics apply unchanged to other vectors: the map's held-out use
    assert torch.allclose(norm(x[:10]), z[:10])


def F_mean_norm(x):
    return float(torch.nn.functional.normalize(x, dim=1).mean(0).norm())


def test_orthogonal_map_aligns_a_rotated_shifted_space():
    """Two 'languages' whose vectors are a rotation (plus shift and scale) of each other."""
    rng = np.random.default_rng(6)
    x = torch.tensor(rng.normal(size=(300, 10)))
    y = 3.0 * x @ torch.tensor(random_orthogonal(10, 7)) + 2.0
    train, test = torch.arange(0, 200), torch.arange(200, 300)
    mapping = OrthogonalMap.learn(x, y, pairs=(train, train))
    _, nearest = retrieve(mapping(x[test]), mapping.reference(y[test]), k=1)
    assert (nearest[:, 0] == torch.arange(100)).all()
    _, unaligned = retrieve(mapping.identity(x[test]), mapping.reference(y[test]), k=1)
    assert (unaligned[:, 0] == torch.arange(100)).float().mean() < 0.2
    # back in the reference's raw space: the right direction from its mean, at its scale
    restored = mapping.to_reference_features(x[test]) - y.mean(0)
    truth = y[test] - y.mean(0)
    assert torch.nn.functional.cosine_similarity(restored, truth).mean() > 0.95
    assert restored.norm(dim=1).mean() / truth.norm(dim=1).mean() == pytest.approx(1.0, abs=0.15)
    again = OrthogonalMap.from_state_dict(mapping.state_dict())
    assert torch.allclose(again(x[test]), mapping(x[test]))


def test_csls_matches_a_direct_computation():
    rng = np.random.default_rng(8)
    queries = torch.tensor(rng.normal(size=(7, 5)))
    candidates = torch.tensor(rng.normal(size=(30, 5)))
    source = torch.cat([queries, torch.tensor(rng.normal(size=(13, 5)))])
    q, c, s = (torch.nn.functional.normalize(m, dim=1).numpy() for m in (queries, candidates, source))
    cos = q @ c.T
    r_target = np.sort(cos, axis=1)[:, -10:].mean(1)
    r_source = np.sort(c @ s.T, axis=1)[:, -10:].mean(1)
    direct = 2 * cos - r_target[:, None] - r_source[None, :]
    # a tiny block size forces many blocks
    scores, indices = retrieve(queries, candidates, k=4, method="csls", csls_k=10, source_space=source, block_elements=31)
    assert np.array_equal(indices.numpy(), np.argsort(-direct, axis=1)[:, :4])
    assert np.allclose(scores.numpy(), np.sort(direct, axis=1)[:, ::-1][:, :4])
    _, nn = retrieve(queries, candidates, k=4, block_elements=31)
    assert np.array_equal(nn.numpy(), np.argsort(-cos, axis=1)[:, :4])


def test_csls_demotes_a_hub():
    """A candidate near every query wins nearest-neighbour retrieval but not CSLS."""
    rng = np.random.default_rng(9)
    targets = rng.normal(size=(50, 20))
    hub = rng.normal(size=(1, 20))
    queries = targets + 0.8 * rng.normal(size=(50, 20)) + hub  # every query leans towards the hub
    candidates = torch.tensor(np.concatenate([targets, hub]))
    _, nn = retrieve(torch.tensor(queries), candidates, k=1)
    _, csls = retrieve(torch.tensor(queries), candidates, k=1, method="csls")
    right = torch.arange(50)
    assert (nn[:, 0] == 50).sum() >= 2 * (csls[:, 0] == 50).sum()
    assert (csls[:, 0] == right).sum() >= 2 * (nn[:, 0] == right).sum()


def test_precision_at_k_accepts_any_listed_translation():
    ranked = np.array([[3, 1, 2], [0, 2, 1], [2, 0, 1]])
    gold = [[1, 9], [0], [5]]  # query 0: second guess right; query 1: first; query 2: none
    assert precision_at_k(ranked, gold, ks=(1, 2)) == {"p@1": pytest.approx(1 / 3), "p@2": pytest.approx(2 / 3)}


def test_word_alignment_cache_aligns_a_text_once_and_maps_links_to_each_calls_chunks(monkeypatch):
    import eflomal

    from fairseq_ext.analysis.word_alignment import align_words
    from fairseq_ext.analysis.words import SentenceWords

    calls = []

    class Aligner:  # links word i to word i, and records what it was asked to align
        def align(self, english, target, links_filename_fwd, links_filename_rev):
            calls.append(list(english))
            for path in (links_filename_fwd, links_filename_rev):
                with open(path, "w", encoding="utf-8") as f:
                    f.writelines(" ".join(f"{i}-{i}" for i in range(len(line.split()))) + "\n" for line in english)

    monkeypatch.setattr(eflomal, "Aligner", Aligner)

    def sentence(words):
        return SentenceWords(torch.zeros(1), [[] for _ in words], words)

    english = [sentence(["in", None, "the", "beginning"])]  # chunk 1: punctuation, no word
    french = [sentence(["au", "commencement", "le"])]
    cache = {}
    first = align_words(english, french, cache)
    assert first == [[(0, 0), (2, 1), (3, 2)]]  # aligner word k -> the k-th chunk with a word
    shifted = [sentence([None, "in", "the", "beginning"])]  # same words, other chunk indices
    assert align_words(shifted, french, cache) == [[(1, 0), (2, 1), (3, 2)]]
    assert len(calls) == 1, "the same text was aligned twice"
    align_words([sentence(["and", "god"])], french, cache)
    assert len(calls) == 2, "a different text must be aligned anew"
