"""LibreOffice help pages from Debian's ``libreoffice-help-<locale>`` packages.

Every language has the same pages (``help/<locale>/text/<module>/.../*.html``) whose
paragraphs carry the same ids (``par_id…``, ``hd_id…``), so ``(page, id)`` aligns the
translations. A unit is a paragraph or heading, a document is a page, and the label is
the module directory (swriter, scalc, simpress, sdraw, smath, sbasic, shared, ...).
Untranslated paragraphs fall back to English; the cleaning stage's language filter drops them.
"""

from pathlib import Path
from typing import Iterator

from lxml import html

from preprocess.textio import Unit

# language -> (Debian package suffix, help locale folder)
LOCALES = {"en": ("en-us", "en-US"), "fr": ("fr", "fr"), "ru": ("ru", "ru"), "zh": ("zh-cn", "zh-CN"),
           "de": ("de", "de"), "es": ("es", "es"), "it": ("it", "it"), "pt": ("pt", "pt")}
_TAGS = ("p", "h1", "h2", "h3", "h4", "h5", "h6")
_ID_PREFIXES = ("par_id", "hd_id", "bm_id")


def package(lang: str) -> str:
    if lang not in LOCALES:
        raise ValueError(f"no LibreOffice help package known for language '{lang}' (known: {', '.join(LOCALES)})")
    return f"libreoffice-help-{LOCALES[lang][0]}"


def help_root(package_dir: Path, lang: str) -> Path:
    return package_dir / "usr/share/libreoffice/help" / LOCALES[lang][1]


def read_help(root: Path) -> Iterator[Unit]:
    pages = sorted((root / "text").rglob("*.html"))
    if not pages:
        raise FileNotFoundError(f"{root / 'text'} holds no help pages: run the fetch stage")
    for page in pages:
        doc = page.relative_to(root).as_posix()
        module = page.relative_to(root / "text").parts[0]
        seen = set()  # some pages embed a shared section twice; keep its first copy
        for elem in html.parse(str(page)).iter(*_TAGS):
            par_id = elem.get("id") or ""
            if par_id.startswith(_ID_PREFIXES) and par_id not in seen:
                seen.add(par_id)
                yield Unit(doc, f"{doc}#{par_id}", module, elem.text_content())
