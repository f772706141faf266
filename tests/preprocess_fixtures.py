"""Small inputs in the real formats for the corpus-pipeline tests: a bz2 Wikipedia XML dump,
CCNet json.gz shards and plain text, with sentences a language identifier recognises."""

import bz2
import gzip
import json
from pathlib import Path
from typing import Iterable, List, Tuple
from xml.sax.saxutils import escape

import numpy as np

SENTENCES = {
    "en": [
        "The river flows slowly past the old mill at the edge of the village",
        "Every morning the baker opens his shop before the sun rises over the hills",
        "Children walked to school along the narrow road between the fields",
        "The library keeps thousands of books about history, science and travel",
        "After the storm, the fishermen repaired their nets on the beach",
        "She wrote a long letter to her brother who lived in another country",
        "The museum will close early on Sunday because of the national holiday",
        "Farmers in the valley grow wheat, potatoes and apples every year",
    ],
    "fr": [
        "La rivière coule lentement devant le vieux moulin au bord du village",
        "Chaque matin, le boulanger ouvre sa boutique avant que le soleil se lève",
        "Les enfants marchaient vers l'école le long de la route étroite entre les champs",
        "La bibliothèque conserve des milliers de livres sur l'histoire et les voyages",
        "Après la tempête, les pêcheurs ont réparé leurs filets sur la plage",
        "Elle a écrit une longue lettre à son frère qui vivait dans un autre pays",
        "Le musée fermera plus tôt dimanche à cause de la fête nationale",
        "Les agriculteurs de la vallée cultivent du blé, des pommes de terre et des pommes",
    ],
}


def paragraphs(lang: str, n: int, seed: int) -> List[str]:
    """``n`` distinct paragraphs of two sentences each, numbered so none is a duplicate."""
    rng = np.random.default_rng(seed)
    pool = SENTENCES[lang]
    return [f"{pool[rng.integers(len(pool))]}, {pool[rng.integers(len(pool))].lower()} ({seed}-{i})." for i in range(n)]


def write_wikipedia_dump(path: Path, pages: Iterable[Tuple[str, str, str, bool]]) -> Path:
    """A pages-articles dump of ``(title, wikitext, namespace, is_redirect)`` pages."""
    xml = ['<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">']
    for i, (title, text, ns, redirect) in enumerate(pages, 1):
        xml.append(
            f"<page><title>{escape(title)}</title><ns>{ns}</ns><id>{i}</id>"
            + (f'<redirect title="{escape(title)}" />' if redirect else "")
            + f"<revision><id>{1000 + i}</id><model>wikitext</model><format>text/x-wiki</format>"
            f'<text bytes="{len(text)}" xml:space="preserve">{escape(text)}</text></revision></page>'
        )
    xml.append("</mediawiki>")
    path.write_bytes(bz2.compress("\n".join(xml).encode("utf-8")))
    return path


def article(paras: List[str]) -> str:
    """Wikitext with the markup a cleaner must remove around the given paragraphs."""
    first = f"'''{paras[0].split()[0]}''' {' '.join(paras[0].split()[1:])}"
    body = [
        "{{Infobox settlement|name=Example|population=1234}}",
        f"{first}<ref>A citation that must not survive.</ref>",
        "== History ==",
        *(f"{p} [[Category:Things]]" if i % 2 else f"[[Main page|{p.split()[0]}]] {' '.join(p.split()[1:])}"
          for i, p in enumerate(paras[1:])),
        "{| class=\"wikitable\"\n| cell one || cell two\n|}",
        "[[File:Picture.jpg|thumb|A caption]]",
    ]
    return "\n\n".join(body)


def write_ccnet_shard(path: Path, docs: Iterable[Tuple[str, bytes]]) -> Path:
    """``(language, raw_content as UTF-8 bytes, possibly invalid)`` per document."""
    lines = []
    for i, (lang, content) in enumerate(docs):
        # build the JSON around the raw bytes so invalid UTF-8 reaches the file as it is
        head = json.dumps({"url": f"http://example.org/{i}", "language": lang, "raw_content": "@@"})
        before, after = head.encode("utf-8").split(b"@@")
        lines.append(before + content.replace(b"\n", b"\\n") + after)
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    return path


def write_text_file(path: Path, docs: List[List[str]]) -> Path:
    path.write_text("\n\n".join("\n".join(doc) for doc in docs) + "\n", encoding="utf-8")
    return path
