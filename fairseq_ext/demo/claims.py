"""The paper's claims that the demo can check, each decided against its control.

A claim compares a *value* (a model's score) with a *control's* (the majority class,
Default, a random encoder under the same map, English–English′) in the direction the
paper states, and its *margin* is that difference in standard errors (SE):

- accuracies and P@1 are binomial, SE = sqrt(p(1 − p) / n) over the test size n (p kept
  half an example away from 0 and 1, so that 0 of n hits still has an error); the
  difference of two independent estimates has the root of their summed squared SEs. The
  majority class is a fixed property of the test set: it adds no error of its own;
- sentence retrieval against the random encoder, where the analysis kept each query's hit
  (``retrieval_hits.csv``): the two are tested on the same queries, so the SE is that of
  the mean of their per-query differences (paired);
- CKA has the analysis's bootstrap over sentences (``cka_se``); two comparisons of the same
  sentences, resampled with the same indices, have the SE of their paired replicates'
  difference; comparisons of different sentences (English′ is another text) are
  independent.

:func:`verdict` is the one rule: **supported** when the margin is at least ``MARGIN_SE``
SE in the claim's direction, **contradicted** when it is at least that large the other
way, **cannot tell** otherwise. "X hurts transfer compared with C" needs C to transfer
first (its own claim supported); otherwise the verdict is **no transfer to compare**.
Alignment claims (retrieval, word translation, word maps) compare each comparison's best
layer, the same rule for the model and the random encoder.
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from xling import files, settings
from fairseq_ext.analysis import bli, retrieval, word_alignment
from fairseq_ext.demo.paper import TABLE1
from fairseq_ext.demo.results import AnalysisResults, TransferResults, ordered_settings
from fairseq_ext.transfer.table import MAJORITY, ROW_NAMES

MARGIN_SE = 3.0
SUPPORTED, CONTRADICTED, CANNOT_TELL = "supported", "contradicted", "cannot tell"
NO_TRANSFER = "no transfer to compare"
NO_CONTROL = "cannot tell: no control"
NO_ERROR_BAR = "cannot tell: no error bar"
RULE = (
    f"Each claim compares a value with its control in the direction the paper states; the margin is the "
    f"difference in standard errors (binomial over the test size for accuracies and P@1, the majority class "
    f"counted as fixed; sentence retrieval paired over its queries, which the model and the random encoder "
    f"share; for CKA a bootstrap over sentences, paired (the same resamples) when two comparisons "
    f"share their sentences). **{SUPPORTED}**: a margin of at least "
    f"+{MARGIN_SE:g} SE; **{CONTRADICTED}**: at most −{MARGIN_SE:g} SE; **{CANNOT_TELL}** otherwise. "
    f"\"X hurts transfer\" needs its reference to transfer first, otherwise **{NO_TRANSFER}**; alignment "
    f"claims compare each comparison's best layer, the model's and the random encoder's alike."
)


@dataclass
class Claim:
    id: str  # unique in a report: <kind>/<pair language>/...
    pair: str  # the demo's pair, e.g. en-fr
    lang: str  # the data language compared with English (en2: English′)
    text: str  # the paper's claim, in words
    paper: str  # the paper's own number or words for it ("" where it has none)
    where: str  # what was measured, e.g. "bible_genre, fr" or "retrieval fr→en, best layer"
    metric: str
    unit: str  # "%" or "" (CKA)
    value: Optional[float]
    control: str  # the control's name
    control_value: Optional[float]
    n: Optional[int]  # examples / sentences / words behind the value
    control_n: Optional[int]  # behind the control's (None: a fixed property of the test set)
    difference: Optional[float]  # value − control_value
    se: Optional[float]  # of the difference
    se_method: str
    direction: int  # +1: the paper expects the value above the control, -1: below
    margin_se: Optional[float]  # direction x difference / se
    verdict: str
    threshold: float = MARGIN_SE
    value_layer: Optional[str] = None  # best-layer claims: the layer of each side
    control_layer: Optional[str] = None
    source_value: Optional[float] = None  # transfer: the English dev score of the same setting
    source_control_value: Optional[float] = None  # transfer: the English dev set's majority class
    ratio: Optional[float] = None  # transfer: (target − majority) / (source − source majority)

    @property
    def group(self) -> str:
        """CKA claims of one comparison, all layers: ``id`` without its layer."""
        return self.id.rsplit("/", 1)[0] if self.id.startswith("cka/") else self.id


def verdict(margin_se: float, threshold: float = MARGIN_SE) -> str:
    if margin_se >= threshold:
        return SUPPORTED
    if margin_se <= -threshold:
        return CONTRADICTED
    return CANNOT_TELL


def binomial_se(percent: float, n: int) -> float:
    """SE (in percent) of an accuracy or P@1 of ``percent`` on ``n`` items; p is kept half an
    item away from 0 and 1 (0 hits of n is not an error-free 0)."""
    half = 0.5 / max(n, 1)
    p = min(max(percent / 100, half), 1 - half)
    return 100 * math.sqrt(p * (1 - p) / max(n, 1))


def transfer_ratio(target: float, majority: float, source: Optional[float], source_majority: Optional[float],
                   source_n: Optional[int]):
    """How much of the English gain over the majority class survives in the target language;
    None unless English itself is above its majority class by ``MARGIN_SE`` binomial SEs
    over its dev set (a gain within noise makes the ratio noise, of any size)."""
    if source is None or source_majority is None or not source_n:
        return None
    if source - source_majority < MARGIN_SE * binomial_se(source, source_n):
        return None
    return (target - majority) / (source - source_majority)


def compare(*, value: float, control_value: float, se: Optional[float], direction: int,
            requires: Optional["Claim"] = None, **fields) -> Claim:
    """A claim decided by :func:`verdict` (``requires``: a claim that must be supported
    first, e.g. the reference setting's own transfer)."""
    difference = value - control_value
    if se is None or math.isnan(se) or math.isnan(difference):
        margin, decided = None, NO_ERROR_BAR
    elif se > 0:
        margin = direction * difference / se
        decided = verdict(margin)
    else:  # no sampling error at all (identical replicates): only the sign is left
        margin = None
        decided = CANNOT_TELL if difference == 0 else (SUPPORTED if direction * difference > 0 else CONTRADICTED)
    if requires is not None and requires.verdict != SUPPORTED:
        decided = NO_TRANSFER
    return Claim(value=value, control_value=control_value, se=se, direction=direction, difference=difference,
                 margin_se=margin, verdict=decided, **fields)


def uncontrolled(*, value: float, **fields) -> Claim:
    """A claim whose control did not run: its value is reported, nothing is decided."""
    return Claim(value=value, control_value=None, control_n=None, difference=None, se=None, margin_se=None,
                 verdict=NO_CONTROL, se_method="", **fields)


# ------------------------------------------------------------------ transfer

# (setting, reference): the paper's "setting transfers worse than reference" (Table 1; each
# setting's compared_with in xling.settings)
HURTS = tuple(settings.comparisons())
HURTS_TEXT = {
    ("wiki_cc", "default"): "A domain mismatch lowers transfer: Wiki-CC transfers worse than Default",
    ("no_anchors", "default"): "Anchor points help: No anchors transfers worse than Default",
}


def _name(setting: str) -> str:
    return ROW_NAMES.get(setting, setting)


def _paper_score(setting: str, lang: str) -> str:
    row = TABLE1.get(_name(setting), {}).get("XNLI", {})
    return f"XNLI {lang} {row[lang]:.1f}" if lang in row else ""


def _paper_gap(setting: str, reference: str) -> str:
    rows = [TABLE1.get(_name(s)) for s in (setting, reference)]
    if None in rows:
        return ""
    return f"{rows[0]['XNLI']['Δ'] - rows[1]['XNLI']['Δ']:+.1f} XNLI points, 3-language average"


def transfer_id(lang: str, task: str, setting: str) -> str:
    """The id of "``setting`` transfers on ``task``" (the report's table takes its ratio)."""
    return f"transfer/{lang}/{task}/{setting}"


def transfer_claims(transfer: TransferResults, pair: str, lang: str) -> List[Claim]:
    claims = []
    for task in transfer.tasks():
        if task not in transfer.majority:
            continue  # no majority class (not classification): no control for "transfers"
        n, majority = transfer.test_size[task], transfer.majority[task]
        transfers = {}
        for setting in ordered_settings(s for s in transfer.test if task in transfer.test[s]):
            score, source = transfer.test[setting][task], transfer.dev[setting].get(task)
            transfers[setting] = compare(
                id=transfer_id(lang, task, setting), pair=pair, lang=lang,
                text=f"{_name(setting)} transfers zero-shot above the majority class",
                paper=_paper_score(setting, lang), where=f"{task}, {lang}",
                metric=f"{task} {lang} test accuracy", unit="%", value=score, control=MAJORITY,
                control_value=majority, n=n, control_n=None, se=binomial_se(score, n),
                se_method="binomial over the test set; the majority class is fixed", direction=+1,
                source_value=source, source_control_value=transfer.dev_majority.get(task),
                ratio=transfer_ratio(score, majority, source, transfer.dev_majority.get(task), transfer.dev_size.get(task)),
            )
        claims += transfers.values()
        for setting, reference in HURTS:
            if setting not in transfers or reference not in transfers:
                continue
            score, base = transfer.test[setting][task], transfer.test[reference][task]
            text = HURTS_TEXT.get((setting, reference), f"{_name(setting)} transfers worse than {_name(reference)}")
            claims.append(compare(
                id=f"hurts/{lang}/{task}/{setting}-vs-{reference}", pair=pair, lang=lang,
                text=text, paper=_paper_gap(setting, reference), where=f"{task}, {lang}",
                metric=f"{task} {lang} test accuracy", unit="%", value=score, control=_name(reference),
                control_value=base, n=n, control_n=n, se=math.hypot(binomial_se(score, n), binomial_se(base, n)),
                se_method="binomial, two independent estimates", direction=-1, requires=transfers[reference],
            ))
    return claims


# ------------------------------------------------------------------ alignment (best layers)


@dataclass
class Best:
    """A comparison's best layer of one metric, in percent, with its binomial SE."""

    value: float
    row_layer: str  # the table's layer of that row, as written; "" for a table without layers
    n: int
    se: float

    @property
    def layer(self) -> str:
        """The layer as the report names it: L3, or "" (input embeddings)."""
        return f"L{self.row_layer}" if self.row_layer != "" else ""


def _best_row(rows: Sequence[Dict[str, str]], score) -> Optional[Tuple[float, Dict[str, str]]]:
    """(score, row) of the row maximising ``score(row)``, NaN scores left out."""
    scored = [(score(r), r) for r in rows]
    scored = [(value, r) for value, r in scored if not math.isnan(value)]
    return max(scored, key=lambda pair: pair[0]) if scored else None


def _p_at_1(rows, column: str, n_column: str) -> Optional[Best]:
    best = _best_row(rows, lambda r: float(r[column]))
    if best is None:
        return None
    value, row = 100 * best[0], best[1]
    return Best(value, row.get("layer", ""), int(row[n_column]), binomial_se(value, int(row[n_column])))


def _map_gain(rows, aligned: str, unaligned: str, n_column: str) -> Optional[Best]:
    """The best layer of aligned − unaligned P@1; its SE counts the two as independent (they
    share queries, so this overstates it; the per-query hits, where kept, give the paired SE)."""
    best = _best_row(rows, lambda r: float(r[aligned]) - float(r[unaligned]))
    if best is None:
        return None
    row, n = best[1], int(best[1][n_column])
    se = math.hypot(binomial_se(100 * float(row[aligned]), n), binomial_se(100 * float(row[unaligned]), n))
    return Best(100 * best[0], row.get("layer", ""), n, se)


def _of(rows, comparison: str) -> List[Dict[str, str]]:
    return [r for r in rows if r["comparison"] == comparison]


def table_method(rows, column_of, preferred: Sequence[str]) -> Optional[str]:
    """The first of ``preferred`` retrieval methods whose aligned column (``column_of(True,
    method)``) the table has; the report's tables show the same method as its claims."""
    return next((m for m in preferred if rows and column_of(True, m) in rows[0]), None)


RETRIEVAL_METHODS, BLI_METHODS = ("nn", "csls"), ("csls", "nn")  # the paper's sentence retrieval: cosine


RANDOM = "random"


def paired_difference_se(ours: np.ndarray, theirs: np.ndarray) -> float:
    """SE (in points) of mean(ours) − mean(theirs) over the same queries: the SE of the mean
    of the per-query differences (the queries both find, or both miss, cancel). As for
    :func:`binomial_se`, half a query is the least variance there is: two encoders that
    agree on every query have not shown an error-free difference of 0."""
    n = len(ours)
    half = 0.5 / n
    return 100 * math.sqrt(max(float(np.var(ours - theirs, ddof=1)), half * (1 - half)) / n)


def _against_random(rows, comparison: str, measure, id: str, text: str, control: str, per_query=None,
                    **fields) -> Optional[Claim]:
    """``comparison``'s best layer vs the random encoder's, measured alike. ``per_query``:
    (comparison, Best) -> each query's share of the value, or None where it was not recorded;
    when both sides have one for each of the table's test queries, the SE is the paired one."""
    value = measure(_of(rows, comparison))
    if value is None:
        return None
    random = measure(_of(rows, RANDOM))
    if random is None:
        return uncontrolled(id=id, text=text, control=control, value=value.value, n=value.n,
                            value_layer=value.layer, direction=+1, **fields)
    se, se_method = math.hypot(value.se, random.se), "binomial, two independent estimates"
    ours, theirs = (per_query(c, best) if per_query else None for c, best in ((comparison, value), (RANDOM, random)))
    if ours is not None and theirs is not None and len(ours) == len(theirs) == value.n == random.n > 1:
        se = paired_difference_se(ours, theirs)
        se_method = f"paired over the same {len(ours)} queries (the SE of their per-query differences)"
    return compare(value=value.value, control_value=random.value, n=value.n, control_n=random.n, se=se,
                   direction=+1, value_layer=value.layer, control_layer=random.layer, id=id, text=text,
                   control=control, se_method=se_method, **fields)


def retrieval_claims(rows: Sequence[Dict[str, str]], pair: str, lang: str,
                     hits: Optional[Dict[Tuple[str, str, str, str], np.ndarray]] = None) -> List[Claim]:
    """``hits``: the analysis's per-query hits (``retrieval.read_hits``); with them, the
    model and the random encoder, tested on the same queries, have a paired SE."""
    method = table_method(rows, retrieval.column, RETRIEVAL_METHODS)
    if method is None:
        return []
    aligned, unaligned = retrieval.column(True, method), retrieval.column(False, method)
    rows = [r for r in rows if r["pair"] == lang]
    hits = hits or {}

    def of(*columns_signs):
        """Per query: the sum of sign x hit over the columns, at a comparison's best layer."""
        def per_query(comparison: str, best: Best):
            keys = [((lang, comparison, best.row_layer, c), sign) for c, sign in columns_signs]
            if not all(k in hits for k, _ in keys):
                return None
            return sum(sign * hits[k].astype(np.float64) for k, sign in keys)
        return per_query

    base = dict(pair=pair, lang=lang, unit="%", paper="")
    where = f"sentence retrieval {lang}→en, P@1, best layer of each"
    claims = [
        _against_random(rows, "bilingual", lambda r: _p_at_1(r, unaligned, retrieval.TEST_SIZE),
                        f"retrieval/{lang}/bilingual-no-map",
                        "A bilingual model's sentences align without any map, above a random encoder",
                        "random encoder, no map", per_query=of((unaligned, 1)), where=where,
                        metric="P@1 without a map", **base),
        _against_random(rows, "monolingual", lambda r: _p_at_1(r, aligned, retrieval.TEST_SIZE),
                        f"retrieval/{lang}/monolingual-map",
                        "Independently trained monolingual models align by an orthogonal map, above a random "
                        "encoder under the same map", "random encoder, same map", per_query=of((aligned, 1)),
                        where=where, metric="P@1 with a map", **base),
        _against_random(rows, "monolingual", lambda r: _map_gain(r, aligned, unaligned, retrieval.TEST_SIZE),
                        f"retrieval/{lang}/monolingual-map-gain",
                        "The map lifts monolingual models' retrieval more than a random encoder's",
                        "random encoder's gain from the same map", per_query=of((aligned, 1), (unaligned, -1)),
                        where=where, metric="P@1 with a map − without (points)", **base),
    ]
    return [c for c in claims if c is not None]


def bli_claims(rows: Sequence[Dict[str, str]], pair: str, lang: str) -> List[Claim]:
    method = table_method(rows, bli.column, BLI_METHODS)
    if method is None:
        return []
    aligned = bli.column(True, method)
    rows = [r for r in rows if r["pair"] == lang]
    claims = []
    for comparison in [c for c in dict.fromkeys(r["comparison"] for r in rows) if c != RANDOM]:
        for space in ("contextual", "input embeddings"):
            claim = _against_random(
                [r for r in rows if r["space"] == space], comparison,
                lambda r: _p_at_1(r, aligned, bli.TEST_SIZE), f"bli/{lang}/{comparison}/{space.replace(' ', '-')}",
                f"Words of the {comparison} models align by an orthogonal map, above a random encoder under "
                "the same map", "random encoder, same map", pair=pair, lang=lang, unit="%", paper="",
                where=f"word translation en→{lang}, {space}, best layer of each", metric=f"P@1 aligned ({aligned})",
            )
            claims += [claim] if claim is not None else []
    return claims


def word_map_claims(rows: Sequence[Dict[str, str]], pair: str, lang: str) -> List[Claim]:
    rows = [r for r in rows if r["pair"] == lang]
    claims = []
    for comparison in [c for c in dict.fromkeys(r["comparison"] for r in rows) if c != RANDOM]:
        claim = _against_random(
            rows, comparison, lambda r: _p_at_1(r, word_alignment.column(True), word_alignment.TEST_SIZE),
            f"word_maps/{lang}/{comparison}",
            f"Contextual words of the {comparison} models align by a map, above a random encoder under the same map",
            "random encoder, same map", pair=pair, lang=lang, unit="%", paper="",
            where=f"contextual word maps {lang}→en, best layer of each", metric="P@1 with a map",
        )
        claims += [claim] if claim is not None else []
    return claims


# ------------------------------------------------------------------ CKA

ENGLISH_PRIME = "en2"



@dataclass
class CKAClaim:
    comparison: str
    control: str
    control_lang: Optional[str]  # None: the pair's language (the same sentences: a paired bootstrap)
    direction: int
    text: str
    paper: str = ""


CKA_CLAIMS = (
    CKAClaim("bilingual", "monolingual", None, +1,
             "A bilingual model's two languages are more similar than two monolingual models'",
             "bilingual only slightly above monolingual"),
    CKAClaim("monolingual", "random", None, +1,
             "Independently trained monolingual models are more similar than a model and a random encoder"),
    CKAClaim("bilingual", "random", None, +1, "A bilingual model's two languages are more similar than a random encoder's"),
    # English–English′ (two translations, one model) is the same-language reference
    CKAClaim("monolingual", "same_model", ENGLISH_PRIME, -1,
             "Monolingual models' cross-lingual similarity stays below English–English′"),
    CKAClaim("bilingual", "same_model", ENGLISH_PRIME, -1,
             "A bilingual model's cross-lingual similarity stays below English–English′"),
)


def _cka_se(analysis: AnalysisResults, a: Tuple[str, str, str], b: Tuple[str, str, str], rows) -> Tuple[Optional[float], str]:
    """SE of CKA(a) − CKA(b), keys (pair, comparison, layer): the paired bootstrap when both
    are resamples of the same sentences, else the two bootstrap SEs as independent."""
    replicates = analysis.cka_bootstrap
    if a[0] == b[0] and a in replicates and b in replicates:
        return float(np.std(replicates[a] - replicates[b], ddof=1)), \
            f"paired bootstrap over sentences ({len(replicates[a])} resamples, the same for both)"
    ses = [rows[k].get("cka_se", "") for k in (a, b)]
    if "" in ses:
        return None, "no bootstrap in the CKA table"
    return math.hypot(*map(float, ses)), "bootstrap over sentences, two independent samples"


def cka_claims(analysis: AnalysisResults, pair: str, lang: str) -> List[Claim]:
    """Per layer and on the layer average."""
    rows = {(r["pair"], r["comparison"], r["layer"]): r for r in analysis.cka}
    claims = []
    for spec in CKA_CLAIMS:
        control_lang = spec.control_lang or lang
        layers = [k[2] for k in rows if k[:2] == (lang, spec.comparison) and (control_lang, spec.control, k[2]) in rows]
        for layer in layers:
            a, b = (lang, spec.comparison, layer), (control_lang, spec.control, layer)
            se, method = _cka_se(analysis, a, b, rows)
            claims.append(compare(
                id=f"cka/{lang}/{spec.comparison}-vs-{spec.control}/{layer}", pair=pair, lang=lang, text=spec.text,
                paper=spec.paper, where=f"CKA, en vs {lang}, {'layer average' if layer == 'average' else layer}",
                metric="linear CKA", unit="", value=float(rows[a]["cka"]), control=f"{control_lang} {spec.control}",
                control_value=float(rows[b]["cka"]), n=int(rows[a]["sentences"]), control_n=int(rows[b]["sentences"]),
                se=se, se_method=method, direction=spec.direction,
            ))
    return claims


# ------------------------------------------------------------------ a pair's claims, claims.json


def pair_claims(pair: str, lang: str, transfer: TransferResults, analysis: AnalysisResults) -> List[Claim]:
    return [
        *transfer_claims(transfer, pair, lang),
        *retrieval_claims(analysis.retrieval, pair, lang, analysis.retrieval_hits),
        *bli_claims(analysis.bli, pair, lang),
        *word_map_claims(analysis.word_maps, pair, lang),
        *cka_claims(analysis, pair, lang),
    ]


def _record(claim: Claim) -> dict:
    """The claim as JSON (NaN, which JSON lacks, as null)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(claim).items()}


def write_claims(path: Path, claims: Sequence[Claim]) -> Path:
    files.write_json(path, {"rule": RULE, "margin_se": MARGIN_SE, "claims": [_record(c) for c in claims]})
    return path
