"""A synthetic multi-part Wikipedia dump: ``pages-articles`` XML in bz2 multistream parts.

Each part is a concatenation of bz2 streams of 100 pages (what Wikimedia's multistream
dumps are), with a ``-index.txt.bz2`` beside it (``offset:page id:title``). The wikitext
has the markup wikiextractor and our reader must remove: infobox and citation templates,
tables, internal and external links, file links, references, headings, lists, bold and
italics, HTML comments, categories; plus redirects and talk pages that must be skipped.
Prose is English drawn from a Zipf distribution over a word list, so the cleaning
stage's language filter keeps it. Deterministic for a seed.

    python bench/wiki_dump.py OUT_DIR --mb 960 --parts 4 --jobs 2   # MB of XML; 4.6x less as bz2
"""

import argparse
import bz2
import random
from multiprocessing import Pool
from pathlib import Path
from xml.sax.saxutils import escape

WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so no will more can about who other some "
    "time into only could new these two may first then do any like my now over such our man me even most made "
    "after also did many before must through back years where much your way well down should because each just "
    "those people how too little state good very make world still own see men work long get here between both "
    "life being under never day same another know while last might us great old year off come since against go "
    "came right used take three states himself few house use during without again place american around however "
    "home small found thought went say part once general high upon school every don does got united left number "
    "course war until always away something fact though water less public put think almost hand enough far took "
    "head yet government system better set told nothing night end why called didn eyes find going look asked "
    "later knew point next program city business give group toward young days let room president side social "
    "given present several order national possible rather second face per among form important often things "
    "looked early white case john become large big need four within felt along children saw best church ever "
    "least power development light thing family interest want members mind country area others done turned "
    "although open problem sense river village population century district railway station museum university "
    "history music album band football league season player team election party minister church species genus "
    "family island mountain region province county town built founded located known named released recorded "
    "published written directed produced born died married worked served studied moved returned received"
).split()
WEIGHTS = [1 / (rank + 2) for rank in range(len(WORDS))]


class Writer:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def words(self, n: int) -> str:
        return " ".join(self.rng.choices(WORDS, WEIGHTS, k=n))

    def title(self) -> str:
        return " ".join(w.capitalize() for w in self.rng.choices(WORDS[150:], k=self.rng.randint(1, 3)))

    def sentence(self) -> str:
        r, parts = self.rng, []
        for _ in range(r.randint(2, 4)):
            kind = r.random()
            if kind < 0.25:
                parts.append(f"[[{self.title()}|{self.words(r.randint(1, 3))}]]")
            elif kind < 0.35:
                parts.append(f"[[{self.title()}]]")
            elif kind < 0.40:
                parts.append(f"'''{self.words(2)}'''")
            elif kind < 0.45:
                parts.append(f"''{self.words(2)}''")
            elif kind < 0.50:
                parts.append(f"[https://example.org/{r.randint(1, 10**6)} {self.words(2)}]")
            parts.append(self.words(r.randint(4, 12)))
        text = " ".join(parts)
        text = text[0].upper() + text[1:] + "."
        if r.random() < 0.3:
            text += (f"<ref>{{{{cite web |url=https://example.org/{r.randint(1, 10**6)} |title={self.title()} "
                     f"|publisher={self.title()} |year={r.randint(1900, 2024)}}}}}</ref>")
        if r.random() < 0.1:
            text += f'<ref name="n{r.randint(1, 50)}" />'
        return text

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(2, 6)))

    def infobox(self) -> str:
        rows = "\n".join(f"| {w} = {self.words(self.rng.randint(1, 4))}" for w in self.rng.sample(WORDS[100:], 6))
        return f"{{{{Infobox {self.title()}\n{rows}\n}}}}"

    def table(self) -> str:
        r = self.rng
        rows = "\n|-\n".join("| " + " || ".join(self.words(r.randint(1, 3)) for _ in range(3)) for _ in range(r.randint(2, 6)))
        return f'{{| class="wikitable"\n|+ {self.words(3)}\n! {self.words(1)} !! {self.words(1)} !! {self.words(1)}\n|-\n{rows}\n|}}'

    def article(self) -> str:
        r, out = self.rng, []
        if r.random() < 0.5:
            out.append(self.infobox())
        out.append(self.paragraph())
        for _ in range(r.randint(1, 5)):
            out.append(f"== {self.title()} ==")
            for _ in range(r.randint(1, 3)):
                out.append(self.paragraph())
            if r.random() < 0.3:
                out.append(self.table())
            if r.random() < 0.3:
                out.append("\n".join(f"* {self.words(r.randint(3, 8))}" for _ in range(r.randint(2, 5))))
            if r.random() < 0.2:
                out.append(f"[[File:{self.title()}.jpg|thumb|{self.words(4)}]]")
            if r.random() < 0.1:
                out.append(f"<!-- {self.words(6)} -->")
        out.append("== References ==\n{{reflist}}")
        out.extend(f"[[Category:{self.title()}]]" for _ in range(r.randint(1, 3)))
        return "\n\n".join(out)


def page_xml(page_id: int, title: str, text: str, ns: int = 0, redirect: str = "") -> str:
    redirect_tag = f'    <redirect title="{escape(redirect)}" />\n' if redirect else ""
    return (f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n{redirect_tag}"
            f"    <revision>\n      <id>{page_id * 10}</id>\n      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
            f'      <text bytes="{len(text.encode())}" xml:space="preserve">{escape(text)}</text>\n'
            f"    </revision>\n  </page>\n")


HEADER = ('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">\n'
          "  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <dbname>enwiki</dbname>\n  </siteinfo>\n")
FOOTER = "</mediawiki>\n"


def write_part(path: Path, first_id: int, target_bytes: int, seed: int) -> Path:
    """Pages from ``first_id`` until ``target_bytes`` of XML."""
    rng = random.Random(seed)
    writer, page_id, written, offset = Writer(rng), first_id, 0, 0
    index = []
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        chunk = bz2.compress(HEADER.encode(), 9)  # the header is a stream of its own, as in real dumps
        f.write(chunk)
        offset += len(chunk)
        while written < target_bytes:
            pages = []
            for _ in range(100):
                kind = rng.random()
                title = writer.title() + f" {page_id}"
                if kind < 0.08:
                    xml = page_xml(page_id, title, f"#REDIRECT [[{writer.title()}]]", redirect=writer.title())
                elif kind < 0.12:
                    xml = page_xml(page_id, "Talk:" + title, writer.paragraph(), ns=1)
                else:
                    xml = page_xml(page_id, title, writer.article())
                index.append(f"{offset}:{page_id}:{title}\n")
                pages.append(xml)
                page_id += 1
            data = "".join(pages).encode()
            written += len(data)
            chunk = bz2.compress(data, 9)
            f.write(chunk)
            offset += len(chunk)
        f.write(bz2.compress(FOOTER.encode(), 9))
    tmp.rename(path)
    index_path = path.with_name(path.name.replace(".xml.bz2", "-index.txt.bz2"))
    index_path.write_bytes(bz2.compress("".join(index).encode(), 9))
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the parts")
    parser.add_argument("--mb", type=float, default=200, help="total XML size before compression, in MB")
    parser.add_argument("--parts", type=int, default=4, help="dump parts (files)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="parts written at once")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(args.out / f"enwiki-20260101-pages-articles-multistream{part}.xml.bz2", (part - 1) * 10**8 + 1,
             int(args.mb * 1e6 / args.parts), args.seed * 1000 + part) for part in range(1, args.parts + 1)]
    with Pool(args.jobs) as pool:
        for path in pool.starmap(write_part, jobs):
            print(f"{path} {path.stat().st_size / 1e6:.1f} MB bz2")


if __name__ == "__main__":
    main()
