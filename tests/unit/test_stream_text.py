"""The streaming answer's wrap: appended a token at a time it gives the lines a wrap of
the whole text gives, and never a line wider than the pane."""

import random

from rich.cells import cell_len

from llmbench.tui.app.widgets.stream_text import extend, wrap

TEXT = (
    "The keeper climbed the stairs at dusk. Below him the sea broke on the rocks,\n\n"
    "and the lamp turned: once, twice, a hundred times. Supercalifragilisticexpialidocious "
    "words, 漢字の文章, tabs and  double  spaces all wrap.\n"
)


def whole(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for part in text.split("\n"):
        lines.extend(wrap(part, width))
    return lines


def test_appending_token_by_token_wraps_as_the_whole_text_does():
    rng = random.Random(7)
    for width in (5, 12, 37, 80):
        lines, at = [""], 0
        while at < len(TEXT):  # pieces of 1 to 6 characters, as tokens come
            n = rng.randint(1, 6)
            extend(lines, TEXT[at : at + n], width)
            at += n
        assert lines == whole(TEXT, width)
        assert all(cell_len(line.rstrip(" ")) <= width for line in lines)


def test_a_word_longer_than_the_line_is_cut_and_nothing_is_lost():
    lines = wrap("a" * 25 + " b", 10)
    assert lines == ["a" * 10, "a" * 10, "aaaaa b"]
    assert "".join(lines) == "a" * 25 + " b"
