"""Markdown text into top-level blocks: the parser, the block trees, and the big-block scanner.

Owns: the markdown-it parser (one per thread, warmed up off the loop) and the one worker
thread that parses and paints off the event loop; ``_Node`` (a block as Textual's Markdown
would build it, minus the widgets) and ``_Fallback`` (a block holding a table, left to
Textual); ``parse_pieces``, which splits a text into those top-level pieces and says where
the still-open last block starts; and ``_Scanner``, which finds where a block too big to parse
every frame ends, reading each line once. Everything here is pure (no DOM): safe in a thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from textual.content import Content
from textual.widgets.markdown import MarkdownFence

from muxtui.ui import textual_private

if TYPE_CHECKING:
    from muxtui.ui.markdown.painting import _Box

_tls = threading.local()
# One thread parses and paints off the loop for every widget: its allocator arena is reused
# from reply to reply, where a pool of fresh threads would each keep one (RSS that stays).
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="muxtui-markdown")


async def _off_loop(function: Any, *args: Any) -> Any:
    # With this task's context, as asyncio.to_thread does: Textual resolves theme variables
    # ("$text-accent" in highlighted code) through the active app's context variable.
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_WORKER, context.run, function, *args)


_WARM_UP_TEXT = "# a\n\n- b **c** `d` https://example.com\n\n```python\nx = 1\n```\n"


def _new_parser() -> MarkdownIt:
    # Raw HTML in a model's reply is shown as text: Textual's Markdown drops html tokens, so
    # `<div>...</div>` would silently vanish from the screen (the stored text is untouched).
    return MarkdownIt("gfm-like", {"html": False})


def _default_parser() -> MarkdownIt:
    parser = getattr(_tls, "parser", None)
    if parser is None:
        parser = _tls.parser = _new_parser()
    return parser


def _warm_up() -> MarkdownIt:
    """First use costs ~0.2 s (pygments lexer imports, linkify regexes): pay it in a thread."""
    parser = _new_parser()
    parser.parse(_WARM_UP_TEXT)
    MarkdownFence.highlight("x = 1", "python")
    MarkdownFence.highlight("x = 1", "")
    return parser


def _inline_content(token: Token) -> Content:
    # Textual's own inline conversion (styles as ".strong", ".code_inline", links as @click
    # meta), so text is literal: no console markup is ever parsed.
    return textual_private.inline_content(token)


# ---- parsed blocks ------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Node:
    """One Markdown block, as Textual's Markdown would build it, minus the widgets."""

    kind: str  # "p", "h1".."h6", "hr", "quote", "ul", "ol", "li", "fence"
    level: int = 0
    content: Content | None = None
    children: list["_Node"] = field(default_factory=list)
    bullet: str = ""  # list items: the symbol (ordered: the number markdown-it saw)
    code: str = ""
    lexer: str = ""
    highlighted: tuple[Any, Content] | None = None  # ((ansi, dark), content)
    painted: tuple[Any, "_Box"] | None = None  # ((width, epoch), box)
    source: str | None = None  # top-level blocks: their Markdown, to rebuild them once released
    released: bool = False

    def release(self) -> None:
        """Drop the parsed tree once painted (kept: kind, margins' keys, source, painted lines).
        A width or theme change re-parses `source`; until then the block is just its lines."""
        if self.source is not None:
            self.content = self.highlighted = None
            self.children = []
            self.released = True


@dataclass(eq=False, slots=True)
class _Fallback:
    """A top-level block Textual must render itself (it holds a table)."""

    source: str
    kind: str  # the top-level kind, for its margins


Piece = _Node | _Fallback


def _top_level_spans(tokens: list[Token]) -> list[tuple[int, int]]:
    """(start, end) token index ranges of each top-level block."""
    spans: list[tuple[int, int]] = []
    depth = 0
    start = 0
    for i, token in enumerate(tokens):
        if depth == 0:
            start = i
        depth += token.nesting
        if depth == 0:
            spans.append((start, i + 1))
    if depth and start < len(tokens):
        spans.append((start, len(tokens)))
    return spans


def _build(tokens: list[Token], bullets: list[str]) -> list[_Node]:
    """Mirror of ``Markdown._parse_markdown`` for one top-level block (pure: thread-safe)."""
    out: list[_Node] = []
    stack: list[_Node] = []

    def attach(node: _Node) -> None:
        if stack:
            stack[-1].children.append(node)
        else:
            out.append(node)

    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            stack.append(_Node(token.tag, token.level))
        elif kind == "hr":
            attach(_Node("hr", token.level))
        elif kind == "paragraph_open":
            stack.append(_Node("p", token.level))
        elif kind == "blockquote_open":
            stack.append(_Node("quote", token.level))
        elif kind == "bullet_list_open":
            stack.append(_Node("ul", token.level))
        elif kind == "ordered_list_open":
            stack.append(_Node("ol", token.level))
        elif kind == "list_item_open":
            if token.info:
                stack.append(_Node("li", token.level, bullet=token.info))
            else:
                depth = sum(1 for node in stack if node.kind == "li" and not node.bullet[:1].isdigit())
                stack.append(_Node("li", token.level, bullet=bullets[depth % len(bullets)]))
        elif kind.endswith("_close"):
            if stack:
                attach(stack.pop())
        elif kind == "inline":
            if stack:
                stack[-1].content = _inline_content(token)
        elif kind in ("fence", "code_block"):
            attach(_Node("fence", token.level, code=token.content.rstrip(), lexer=token.info))
    while stack:  # an unclosed container (only from a truncated token list)
        attach(stack.pop())
    return out


_NEWLINE = re.compile(r"\r\n?|\n")


def _line_starts(text: str) -> list[int]:
    """Offsets where each line starts, counting lines as markdown-it does (\r\n, \r, \n)."""
    if "\r" in text:
        return [0] + [m.end() for m in _NEWLINE.finditer(text)]
    starts = [0]
    find = text.find
    i = find("\n")
    while i != -1:
        starts.append(i + 1)
        i = find("\n", i + 1)
    return starts


def parse_pieces(
    parser: MarkdownIt, text: str, bullets: list[str], *, keep_last_open: bool
) -> tuple[list[Piece], int]:
    """Parse `text` into pieces. With keep_last_open, the last top-level block is left out and
    the returned offset is where it starts (everything before is final); else len(text)."""
    tokens = parser.parse(text)
    spans = _top_level_spans(tokens)
    end = len(text)
    starts = _line_starts(text)

    def offset(line: int) -> int:
        return starts[line] if line < len(starts) else len(text)

    if keep_last_open:
        if not spans:
            return [], 0
        last = tokens[spans[-1][0]]
        if last.map is None:
            return [], 0
        end = offset(last.map[0])
        spans = spans[:-1]
    pieces: list[Piece] = []
    for a, b in spans:
        block = tokens[a:b]
        first = block[0].map
        source = None if first is None else text[offset(first[0]) : offset(first[1])]
        if any(t.type == "table_open" for t in block):
            kind = {"bullet_list_open": "ul", "ordered_list_open": "ol", "blockquote_open": "quote"}.get(
                block[0].type, "table"
            )
            pieces.append(_Fallback(source or "", kind))
        else:
            nodes = _build(block, bullets)
            if len(nodes) == 1:
                nodes[0].source = source
            pieces.extend(nodes)
    return pieces, end




# ---- where a big block ends ---------------------------------------------------------------

_FENCE_OPEN = re.compile(r" {0,3}(`{3,}(?=[^`\n]*$)|~{3,})")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$", re.M)
_CONTINUES = re.compile(r"[ \t>]|[-+*](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)")


class _Scanner:
    """Finds where a big top-level block ends, reading each line once (no Markdown parse).

    A top-level fence ends after its closing line. Anything else ends at the first line
    that, after a blank line, starts at column 0 and neither continues a list or a quote
    nor is indented: CommonMark closes every open paragraph, list, quote, table and
    indented code there. Fences opened inside the block are followed to their end, so a
    blank line in code is not taken for a boundary. Erring on the late side only makes the
    plain block longer; it never splits a block that Markdown would keep whole.
    """

    __slots__ = ("start", "pos", "fence", "top_fence", "blank")

    def __init__(self, text: str, start: int) -> None:
        self.start = start
        eol = text.find("\n", start)
        first = text[start : eol if eol != -1 else len(text)]
        opened = _FENCE_OPEN.match(first)
        self.fence = (opened.group(1)[0], len(opened.group(1))) if opened else None
        self.top_fence = self.fence is not None
        self.pos = start  # the next line to read (the first one is read here)
        self.blank = False
        if eol != -1:
            self.pos = eol + 1

    def scan(self, text: str, upto: int, final: bool) -> int | None:
        """Read the lines complete before `upto` (all of them if `final`); return the offset
        where the block ends, if that is known now."""
        pos = self.pos
        if self.fence is not None and self.top_fence:
            last = text.rfind("\n", pos, upto)
            stop = upto if final else last + 1
            if stop <= pos:
                return None
            char, size = self.fence
            for match in _FENCE_CLOSE.finditer(text, pos, stop):
                marker = match.group(1)
                if marker[0] == char and len(marker) >= size:
                    end = match.end()
                    return end + 1 if end < len(text) and text[end] == "\n" else end
            self.pos = stop
            return None
        find = text.find
        while pos < upto:
            eol = find("\n", pos, upto)
            if eol == -1:
                if not final:
                    break
                eol = upto
            line = text[pos:eol]
            if self.fence is not None:
                closing = _FENCE_CLOSE.match(line)
                if closing and closing.group(1)[0] == self.fence[0] and len(closing.group(1)) >= self.fence[1]:
                    self.fence = None
                self.blank = False
            elif not line.strip():
                self.blank = True
            else:
                if self.blank and not _CONTINUES.match(line):
                    self.pos = pos
                    return pos
                opened = _FENCE_OPEN.match(line)
                if opened:
                    self.fence = (opened.group(1)[0], len(opened.group(1)))
                self.blank = False
            pos = eol + 1
        self.pos = min(pos, upto)
        return None
