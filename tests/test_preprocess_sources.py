"""The source readers on small files in the real formats, and cleaning on what they return."""

import bz2
import gzip
import sqlite3
import unicodedata
from collections import Counter

import pytest

from preprocess.clean import clean_line, clean_units, script_share
from preprocess.config import CleanConfig
from preprocess.sources.bible import genre, read_bible
from preprocess.sources.commoncrawl import read_ccnet
from preprocess.sources.libreoffice import read_help
from preprocess.sources.plaintext import read_text
from preprocess.sources.wikipedia import read_wikipedia
from preprocess.textio import Unit, read_units, write_units
from preprocess_fixtures import article, paragraphs, write_ccnet_shard, write_text_file, write_wikipedia_dump


@pytest.fixture
def dump(tmp_path):
    paras = {title: paragraphs("en", 4, seed) for seed, title in enumerate(["Mill", "Bakery", "Library"])}
    pages = [(title, article(p), "0", False) for title, p in paras.items()]
    pages += [
        ("Windmill", "#REDIRECT [[Mill]]", "0", True),
        ("Talk:Mill", "A discussion page that is not an article at all.", "1", False),
    ]
    return write_wikipedia_dump(tmp_path / "enwiki-20240101-pages-articles1.xml.bz2", pages), paras


@pytest.mark.parametrize("workers", [1, 2])
def test_wikipedia_reader_removes_markup_and_keeps_articles_only(dump, workers):
    path, paras = dump
    counts = Counter()
    units = list(read_wikipedia([path], counts, workers))
    docs = {}
    for unit in units:
        docs.setdefault(unit.doc, []).append(unit.text)
    assert list(docs.values()) == list(paras.values()), "one paragraph per line, markup gone, page order kept"
    assert counts["articles"] == 3 and counts["skipped_redirect"] == 1 and counts["skipped_not_article"] == 1
    text = "\n".join(u.text for u in units)
    for leftover in ("{{", "}}", "[[", "'''", "<ref", "citation", "cell one", "caption", "Category", "History"):
        assert leftover not in text


def test_truncated_wikipedia_dump_is_an_error_naming_the_file(dump, tmp_path):
    path, _ = dump
    truncated = tmp_path / "cut-pages-articles.xml.bz2"
    truncated.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=r"cut-pages-articles\.xml\.bz2: truncated or corrupt"):
        list(read_wikipedia([truncated], Counter()))


def test_a_file_that_is_not_a_dump_is_an_error(tmp_path):
    path = tmp_path / "notes.xml.bz2"
    path.write_bytes(bz2.compress(b"<notes><note>hello</note>"))
    with pytest.raises(ValueError, match=r"notes\.xml\.bz2: line 1, column \d+: not a valid XML dump"):
        list(read_wikipedia([path], Counter()))


def test_ccnet_reader_keeps_one_language_and_counts_what_it_skips(tmp_path):
    fr = [paragraphs("fr", 3, seed) for seed in range(2)]
    shard = write_ccnet_shard(tmp_path / "fr_head_0000.json.gz", [
        ("fr", "\n".join(fr[0]).encode()),
        ("en", "\n".join(paragraphs("en", 3, 9)).encode()),
        ("fr", "\n".join(fr[1]).encode() + b"\nbroken \xff\xfe bytes"),
    ])
    with gzip.open(shard, "ab") as f:
        f.write(b"{not json\n")
    counts = Counter()
    units = list(read_ccnet([shard], "fr", counts))
    assert [u.text for u in units[:3]] == fr[0] and [u.text for u in units[3:6]] == fr[1]
    assert units[6].text == "broken \ufffd\ufffd bytes", "invalid UTF-8 reaches the cleaner, marked"
    assert counts == {"documents": 2, "skipped_other_language": 1, "skipped_bad_json": 1}
    assert len({u.doc for u in units}) == 2 and all(u.doc.startswith("fr_head_0000.json.gz:") for u in units)


def test_ccnet_records_without_text_or_with_unencodable_text_are_skipped_and_counted(tmp_path):
    fr = paragraphs("fr", 3, 4)
    shard = write_ccnet_shard(tmp_path / "fr_head_0001.json.gz", [
        ("fr", "\n".join(fr).encode()),
        # a lone surrogate escape (half an emoji) in the JSON: valid JSON, not encodable
        ("fr", fr[0].encode() + b"\nla moiti\\u00e9 d'un emoji \\ud83d ici\n" + fr[1].encode()),
    ])
    with gzip.open(shard, "ab") as f:
        f.write(b'{"language": "fr", "raw_content": null}\n{"language": "fr", "raw_content": 42}\n')
    counts = Counter()
    units = list(read_ccnet([shard], "fr", counts))
    assert [u.text for u in units] == [*fr, fr[0], fr[1]]
    assert counts == {"documents": 2, "skipped_no_text": 2, "skipped_unencodable_paragraphs": 1}
    assert write_units(tmp_path / "extract.tsv", units) == 5, "what is left can be written"
    # the writer names the unit of any text a reader lets through
    with pytest.raises(ValueError, match=r"extract.tsv: unit doc.7 \(from shard.json.gz:7\) is not encodable as UTF-8"):
        write_units(tmp_path / "extract.tsv", [Unit("shard.json.gz:7", "doc.7", "", "half \ud83d")])


def test_truncated_ccnet_shard_is_an_error_naming_the_file(tmp_path):
    shard = write_ccnet_shard(tmp_path / "shard.json.gz", [("fr", "\n".join(paragraphs("fr", 200, 1)).encode())] * 5)
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(shard.read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"cut\.json\.gz: truncated or corrupt file after line \d+"):
        list(read_ccnet([cut], "fr", Counter()))


def test_plain_text_documents_are_separated_by_blank_lines(tmp_path):
    docs = [paragraphs("en", 2, 1), paragraphs("en", 3, 2)]
    units = list(read_text([write_text_file(tmp_path / "en.txt", docs)], Counter()))
    assert [u.text for u in units] == docs[0] + docs[1]
    assert [u.doc for u in units] == ["en.txt:0"] * 2 + ["en.txt:1"] * 3


def test_cleaning_counts_every_drop_and_writes_a_usable_file(tmp_path):
    good = paragraphs("en", 5, 3)
    units = [Unit("d1", f"k{i}", "", t) for i, t in enumerate(good)]
    units += [
        Unit("d2", "a", "", "broken \ufffd bytes in a line of English text here"),
        Unit("d2", "b", "", good[0]),  # exact duplicate
        Unit("d2", "c", "", "x"),  # too short
        Unit("d2", "d", "", "Блаженны миротворцы, ибо они будут наречены сынами Божиими."),  # wrong script
        Unit("d2", "e", "", "A\x07\u200b " + good[1].replace(" ", "  ")),  # control characters, spaces
        Unit("d2", "f", "", "Heureux ceux qui procurent la paix, car ils seront appelés fils de Dieu"),
    ]
    src, dest = tmp_path / "in.tsv", tmp_path / "out.tsv"
    write_units(src, units)
    report = clean_units(src, dest, "en", CleanConfig())
    assert report["lines_in"] == len(units) and report["lines_out"] == len(good) + 1
    assert report["dropped"] == {"invalid_utf8": 1, "duplicate": 1, "too_short": 1, "wrong_script": 1, "wrong_language": 1}
    assert report["notes"] == {"control_chars_removed": 1}
    kept = [u.text for u in read_units(dest)]
    assert kept == good + ["A " + good[1]]


@pytest.mark.parametrize("text", [
    "Plain ASCII, 42 digits_and_punctuation!", "Heureux ceux qui procurent la paix, appelés fils",
    "Блаженны миротворцы, ибо Blessed", "使人和平的人有福了 peace", "ﬁ ǅ ᾼ Ελληνικά 123", "12345 ...", "",
])
@pytest.mark.parametrize("script", ["LATIN", "CYRILLIC", "CJK"])
def test_script_share_is_the_share_of_letters_named_in_the_script(text, script):
    letters = [ch for ch in text if ch.isalpha()]
    expected = sum(unicodedata.name(ch, "").startswith(script) for ch in letters) / len(letters) if letters else 0.0
    assert script_share(text, script) == pytest.approx(expected, abs=1e-12)


def test_a_line_mostly_in_another_script_is_dropped_as_wrong_script():
    mostly_cyrillic = "Блаженны миротворцы, ибо они будут наречены сынами Божиими (Matthew)"
    assert clean_line(mostly_cyrillic, "en", CleanConfig()) == (None, "wrong_script")
    assert clean_line(mostly_cyrillic, "ru", CleanConfig(langid_min_chars=10**6))[1] == ""


def test_cleaning_a_language_with_no_usable_line_is_an_error(tmp_path):
    src = tmp_path / "ru.tsv"
    write_units(src, [Unit("d", str(i), "", t) for i, t in enumerate(paragraphs("en", 4, 1))])
    with pytest.raises(ValueError, match=r"ru\.tsv: no line survived cleaning as 'ru'.*wrong_script"):
        clean_units(src, tmp_path / "out.tsv", "ru", CleanConfig())


def test_chinese_is_normalised_to_simplified_script_without_stray_spaces(tmp_path):
    src, dest = tmp_path / "zh.tsv", tmp_path / "out.tsv"
    write_units(src, [Unit("d", "1", "", "使人和平的人有福了， 因为他们必称为 神的兒子。 我們試試看！")])
    clean_units(src, dest, "zh", CleanConfig())
    assert [u.text for u in read_units(dest)] == ["使人和平的人有福了，因为他们必称为神的儿子。我们试试看！"]


def test_bible_reader_gives_verses_keyed_across_translations(tmp_path):
    db = tmp_path / "bible.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE bible (id INTEGER, bbName TEXT, bNumber INTEGER, cNumber INTEGER, vNumber INTEGER, vText TEXT)")
    rows = [(1, "4", 40, 5, 9, "Blessed are the peacemakers."), (2, "4", 1, 1, 1, "In the beginning..."),
            (3, "l", 40, 5, 9, "Heureux ceux qui procurent la paix.")]
    con.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    assert list(read_bible(db, "4")) == [
        Unit("1.1", "1.1.1", "law", "In the beginning..."),
        Unit("40.5", "40.5.9", "gospels", "Blessed are the peacemakers."),
    ]
    with pytest.raises(ValueError, match=r"no Bible translation 'x' \(available: 4 l\)"):
        list(read_bible(db, "x"))
    assert [genre(b) for b in (1, 10, 19, 23, 41, 44, 50, 66)] == [
        "law", "history", "wisdom", "prophets", "gospels", "history", "epistles", "apocalyptic"]


def test_libreoffice_reader_keys_paragraphs_by_page_and_id(tmp_path):
    page = tmp_path / "help" / "text" / "swriter" / "guide" / "anchor.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<html><body><h1 id="hd_id1">Anchors</h1><p id="par_id2" class="x">An <b>anchor</b> moves.</p>'
        '<p>no id</p><p id="par_id2">the same section again</p><div><p id="other">skipped</p></div></body></html>',
        encoding="utf-8",
    )
    assert list(read_help(tmp_path / "help")) == [
        Unit("text/swriter/guide/anchor.html", "text/swriter/guide/anchor.html#hd_id1", "swriter", "Anchors"),
        Unit("text/swriter/guide/anchor.html", "text/swriter/guide/anchor.html#par_id2", "swriter", "An anchor moves."),
    ]


def test_peoples_daily_becomes_bio_tagged_conll(tmp_path):
    from preprocess.evalsets import write_ner
    from preprocess.sources.peoples_daily import read_ner

    tagged = tmp_path / "199801.txt"
    tagged.write_text(
        "中共中央/nt  总书记/n  江/nr  泽民/nr  访问/v  香港/ns  。/w  他/r  说/v  ：/w  好/a  ！/w\n"
        "没有/v  实体/n  。/w\n",
        encoding="utf-8",
    )
    sentences = list(read_ner(tagged))
    assert sentences[0] == [("中共中央", "B-ORG"), ("总书记", "O"), ("江", "B-PER"), ("泽民", "I-PER"),
                            ("访问", "O"), ("香港", "B-LOC"), ("。", "O")]
    assert len(sentences) == 3 and sentences[1][-1] == ("！", "O")
    report = write_ner(sentences, tmp_path / "zh.test.conll", 10, seed=1)
    assert report == {"sentences": 1, "available": 1, "entities": {"ORG": 1, "PER": 1, "LOC": 1}}
    assert (tmp_path / "zh.test.conll").read_text(encoding="utf-8").startswith("中共中央\tB-ORG\n总书记\tO\n江\tB-PER\n")
    tagged.write_text("坏/n  token\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"199801\.txt:1: 'token' is not a word/tag token"):
        list(read_ner(tagged))


def test_every_configurable_source_has_one_reader():
    from preprocess.config import SOURCES
    from preprocess.sources import READERS

    assert set(READERS) == set(SOURCES)
