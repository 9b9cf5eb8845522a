"""Read documents into text sections that remember where they came from.

PDF is read page by page (pypdf), Markdown by heading, HTML by heading with scripts
and styles dropped, plain text by paragraph. Every failure is a ``DocumentError``
naming the file and the problem: encrypted or corrupt PDF, a PDF with no text
layer, an empty or binary file, text that is not UTF-8.
"""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from ..errors import DocumentError, first_line
from ..util.files import StageCallback, file_sha256

PDF = (".pdf",)
MARKDOWN = (".md", ".markdown", ".mdx")
HTML = (".html", ".htm", ".xhtml")
TEXT = (".txt", ".text", ".rst", ".log", ".csv", ".tsv", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg")
SUPPORTED = PDF + MARKDOWN + HTML + TEXT
MAX_BYTES = 1024 * 2**20  # one document: read whole into memory (a PDF by pypdf too)


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class Section:
    text: str
    page: int | None = None  # 1-based PDF page
    section: str | None = None  # heading path, e.g. "Install > GPU"


@dataclass
class Document:
    source: str  # absolute path, or a label such as "pkg:textual" for the demo corpus
    kind: str  # "pdf", "markdown", "html" or "text"
    sections: list[Section]
    sha256: str
    size: int
    pages: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(len(s.text) for s in self.sections)


def find_files(paths: list[str | Path]) -> tuple[list[Path], list[str]]:
    """Expand files and folders (recursively, hidden ones skipped) into documents.

    Returns the files and one line per path that was skipped or missing. A file named
    explicitly is always taken (its content decides); in folders only known suffixes.
    """
    files: list[Path] = []
    notes: list[str] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise DocumentError(f"{p}: no such file or folder")
        if p.is_file():
            files.append(p.resolve())
            continue
        if not p.is_dir():  # a FIFO or a device: reading it would block or never end
            raise DocumentError(f"{p}: not a regular file or a folder")
        skipped = 0
        for f in sorted(p.rglob("*")):
            rel = f.relative_to(p)
            if any(part.startswith(".") for part in rel.parts) or not f.is_file():
                continue
            if f.suffix.lower() in SUPPORTED:
                files.append(f.resolve())
            else:
                skipped += 1
        if skipped:
            notes.append(f"{p}: skipped {skipped} file(s) that are not PDF, Markdown, HTML or text")
    seen: set[Path] = set()
    unique = [f for f in files if not (f in seen or seen.add(f))]
    return unique, notes


def read_document(path: str | Path, progress: StageCallback = _no_progress) -> Document:
    """Read one file into sections; raises ``DocumentError`` with a one-line reason."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
        size = st.st_size
        if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
            raise DocumentError(f"{p}: not a regular file")
        if size > MAX_BYTES:
            raise DocumentError(f"{p}: {size / 2**20:,.0f} MiB is more than llmbench reads as one document "
                                f"({MAX_BYTES // 2**20} MiB); split it first")  # fmt: skip
        with open(p, "rb") as fh:
            head = fh.read(8192)
    except FileNotFoundError:
        raise DocumentError(f"{p}: no such file") from None
    except OSError as exc:
        raise DocumentError(f"{p}: cannot read it ({exc.strerror})") from None
    if size == 0:
        raise DocumentError(f"{p}: the file is empty")
    suffix = p.suffix.lower()
    if head.startswith(b"%PDF-") or suffix in PDF:
        doc = _read_pdf(p, size, progress)
    else:
        text = _decode(p, head)
        if not text.strip():
            raise DocumentError(f"{p}: the file holds only whitespace")
        if suffix in MARKDOWN:
            doc = Document(str(p), "markdown", markdown_sections(text), "", size)
        elif suffix in HTML or (
            suffix not in TEXT and head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))
        ):
            doc = Document(str(p), "html", html_sections(text), "", size)
            if not doc.sections:
                raise DocumentError(f"{p}: the HTML has no visible text")
        else:
            doc = Document(str(p), "text", text_sections(text), "", size)
    doc.sha256 = file_sha256(p)
    return doc


def document_from_text(source: str, text: str, kind: str = "markdown") -> Document:
    """A document that is not a file (the built-in demo corpus)."""
    sections = markdown_sections(text) if kind == "markdown" else text_sections(text)
    data = text.encode("utf-8")
    return Document(source, kind, sections, hashlib.sha256(data).hexdigest(), len(data))


# ---------------------------------------------------------------- text formats


def _decode(p: Path, head: bytes) -> str:
    if b"\x00" in head:
        raise DocumentError(f"{p}: looks like a binary file (not PDF, Markdown, HTML or text)")
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"{p}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            f"convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None


def text_sections(text: str) -> list[Section]:
    return [Section(text.strip())] if text.strip() else []


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_sections(text: str) -> list[Section]:
    """One section per heading, titled by the heading path ("Install > GPU")."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []  # (level, title) of the open headings
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        if all(not line.strip() or _HEADING.match(line) for line in lines):
            return  # headings alone: they lead into the next section's text
        sections.append(Section("\n".join(lines).strip(), None, " > ".join(t for _, t in path) or None))
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            flush()
            level = len(m.group(1))
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, m.group(2).strip()))
        lines.append(line)  # a heading stays in the text: it carries meaning for retrieval
    if any(line.strip() for line in lines):
        sections.append(Section("\n".join(lines).strip(), None, " > ".join(t for _, t in path) or None))
    return sections


class _HTMLText(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCK = {"p", "div", "br", "li", "tr", "section", "article", "pre", "blockquote", "table", "ul", "ol", "dd", "dt"}
    HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.sections: list[Section] = []
        self.path: list[tuple[int, str]] = []
        self.buf: list[str] = []
        self.heading: list[str] | None = None
        self.level = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.HEADINGS and not self.skip:
            self.flush()
            self.heading, self.level = [], int(tag[1])
        elif tag in self.BLOCK:
            self.buf.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.HEADINGS and self.heading is not None:
            title = " ".join("".join(self.heading).split())
            while self.path and self.path[-1][0] >= self.level:
                self.path.pop()
            if title:
                self.path.append((self.level, title))
                self.buf.append(title + "\n")
            self.heading = None
        elif tag in self.BLOCK:
            self.buf.append("\n")

    def handle_data(self, data):
        if self.skip:
            return
        (self.heading if self.heading is not None else self.buf).append(data)

    def flush(self) -> None:
        text = re.sub(r"[ \t\r\f\v]+", " ", "".join(self.buf))
        text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
        if text:
            self.sections.append(Section(text, None, " > ".join(t for _, t in self.path) or None))
        self.buf = []


def html_sections(text: str) -> list[Section]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    parser.flush()
    return parser.sections


# ---------------------------------------------------------------- PDF


def _read_pdf(p: Path, size: int, progress: StageCallback) -> Document:
    try:
        import pypdf
        from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError
    except ImportError:
        raise DocumentError(
            f"{p}: reading PDF needs pypdf: run `make setup` (or pip install 'llmbench[rag]')"
        ) from None
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # "incorrect startxref" chatter on odd files
    try:
        reader = pypdf.PdfReader(str(p), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # an owner password alone does not stop reading
            except DependencyError as exc:
                raise DocumentError(
                    f"{p}: encrypted PDF that needs the cryptography package to open ({first_line(exc)})"
                ) from None
            if not opened:
                raise DocumentError(
                    f"{p}: the PDF is encrypted with a password; decrypt it first (e.g. qpdf --decrypt)"
                )
        n = len(reader.pages)
    except DocumentError:
        raise
    except FileNotDecryptedError:
        raise DocumentError(
            f"{p}: the PDF is encrypted with a password; decrypt it first (e.g. qpdf --decrypt)"
        ) from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError,
            RecursionError) as exc:  # fmt: skip
        raise DocumentError(f"{p}: not a readable PDF, corrupt or truncated ({first_line(exc)})") from None
    if n == 0:
        raise DocumentError(f"{p}: the PDF has no pages")
    sections: list[Section] = []
    warnings: list[str] = []
    for i, text in enumerate(_pdf_pages(reader, p, warnings), 1):
        if text.strip():
            sections.append(Section(_clean_pdf_text(text), i))
        if i % 20 == 0 or i == n:
            progress("read", i, n)
    if not sections:
        raise DocumentError(
            f"{p}: the PDF has {n} page(s) but no text layer (scanned images?); run OCR first, e.g. ocrmypdf"
        )
    empty = n - len(sections)
    if empty:
        warnings.append(f"{p}: {empty} of {n} pages have no text (images?) and were skipped")
    return Document(str(p), "pdf", sections, "", size, pages=n, warnings=warnings)


def _pdf_pages(reader, p: Path, warnings: list[str]) -> Iterator[str]:
    for i, page in enumerate(reader.pages, 1):
        try:
            yield page.extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - one broken page must not lose the other 599
            warnings.append(f"{p}: page {i} could not be read ({type(exc).__name__}: {first_line(exc)})")
            yield ""


def _clean_pdf_text(text: str) -> str:
    text = re.sub(r"-\n(?=[a-z])", "", text)  # words hyphenated across lines
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
