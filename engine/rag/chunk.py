"""Split sections into overlapping chunks that keep their source, page and section.

Chunks never cross a page or a section, so every chunk cites one place. Inside a
section, text is packed greedily from paragraphs, then sentences, then words (the
order RecursiveCharacterTextSplitter uses) up to ``size`` characters, and each chunk
starts with the last ``overlap`` characters' worth of whole units of the one before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .documents import Document

CHUNK_SIZE = 1000  # characters: about 220 MiniLM word pieces, under its 256 limit
CHUNK_OVERLAP = 150

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n")


@dataclass(frozen=True)
class Chunk:
    text: str
    source: str
    page: int | None
    section: str | None

    def to_dict(self) -> dict:
        return {"source": self.source, "page": self.page, "section": self.section, "text": self.text}


def _units(text: str, size: int) -> list[str]:
    """Paragraphs, split further into sentences and words where they exceed ``size``."""
    out: list[str] = []
    for para in _PARAGRAPH.split(text):
        para = para.strip()
        if not para:
            continue
        if len(para) <= size:
            out.append(para)
            continue
        for sentence in _SENTENCE.split(para):
            sentence = sentence.strip()
            if not sentence:
                continue
            while len(sentence) > size:  # a run-on line: cut at the last space before size
                cut = sentence.rfind(" ", 0, size)
                cut = cut if cut > size // 2 else size
                out.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            if sentence:
                out.append(sentence)
    return out


def split_text(text: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[str]:
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"chunk size must be positive and overlap in [0, size), got {size}/{overlap}")
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for unit in _units(text, size):
        if current and length + 1 + len(unit) > size:
            chunks.append(" ".join(current))
            carried: list[str] = []  # whole units from the end, within the overlap
            total = 0
            for u in reversed(current):
                if total + len(u) + 1 > overlap:
                    break
                carried.insert(0, u)
                total += len(u) + 1
            if carried and total + len(unit) > size:
                carried = []
            current, length = carried, total
        current.append(unit)
        length += len(unit) + (1 if length else 0)
    if current:
        chunks.append(" ".join(current))
    return chunks


def chunk_document(doc: Document, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[Chunk]:
    return [
        Chunk(piece, doc.source, s.page, s.section) for s in doc.sections for piece in split_text(s.text, size, overlap)
    ]
