"""Wikipedia XML dumps (``*-pages-articles*.xml.bz2``, multistream or not).

Pages are streamed with ``iterparse`` and dropped once read, so memory stays flat on a
full dump. Only articles (namespace 0) that are not redirects are kept. wikiextractor
removes the markup (templates, tables, references, links, lists, headings) and returns
one paragraph per line; the page is one document.
"""

import html
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Iterator, List, Tuple

from tqdm import tqdm
from wikiextractor.clean import clean_markup

from preprocess.parallel import pool
from preprocess.sources.files import open_binary, stream_errors
from preprocess.textio import Unit


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # the export namespace changes with the dump version


def iter_pages(path: Path, counts: Counter) -> Iterator[Tuple[str, str, str]]:
    """``(page id, title, wikitext)`` of the articles of a dump."""
    with open_binary(path) as f:
        parser = ET.iterparse(f, events=("start", "end"))
        root = None
        with stream_errors(path):
            try:
                for event, elem in parser:
                    if root is None:
                        root = elem
                    if event != "end" or _local(elem.tag) != "page":
                        continue
                    page = {_local(child.tag): child for child in elem}
                    counts["pages"] += 1
                    text = None
                    if "revision" in page:
                        for child in page["revision"]:
                            if _local(child.tag) == "text":
                                text = child.text or ""
                    ns = page["ns"].text if "ns" in page else "0"
                    if ns != "0":
                        counts["skipped_not_article"] += 1
                    elif "redirect" in page:
                        counts["skipped_redirect"] += 1
                    elif text is None:
                        counts["skipped_no_text"] += 1
                    else:
                        yield page["id"].text, page["title"].text or "", text
                    root.clear()  # forget the pages read so far
            except ET.ParseError as e:
                line, column = e.position
                raise ValueError(f"{path}: line {line}, column {column}: not a valid XML dump ({e})") from e
    if counts["pages"] == 0:
        raise ValueError(f"{path}: no <page> element: is this a Wikipedia pages-articles dump?")


def clean_page(page: Tuple[str, str, str]) -> Tuple[str, List[str]]:
    page_id, _, wikitext = page
    # clean_markup returns HTML-escaped text (&amp;), hence the unescape
    paragraphs = (" ".join(html.unescape(p).split()) for p in clean_markup(wikitext))
    return page_id, [p for p in paragraphs if p]


def read_wikipedia(paths: List[Path], counts: Counter, workers: int = 1) -> Iterator[Unit]:
    for path in paths:
        pages = iter_pages(path, counts)
        with pool(workers) as workers_pool:
            cleaned = workers_pool.imap(clean_page, pages, chunksize=16)
            for page_id, paragraphs in tqdm(cleaned, desc=f"wikipedia {path.name}", unit=" pages", disable=None):
                if not paragraphs:
                    counts["skipped_empty_after_markup_removal"] += 1
                    continue
                counts["articles"] += 1
                doc = f"{path.name}:{page_id}"
                for i, paragraph in enumerate(paragraphs):
                    yield Unit(doc, f"{doc}.{i}", "", paragraph)

