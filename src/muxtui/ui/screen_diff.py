"""What the terminal shows, cell by cell, and the fewest bytes that turn it into the next frame.

Textual repaints every dirty region in full, with a complete SGR sequence and a reset around
every segment: a reply that grows one word repaints whole lines of the chat pane, and a
blinking cursor repaints the composer's line. ``ScreenDiff`` keeps two models of the screen:
``wanted`` (what Textual painted last, applied update by update) and ``shown`` (what the bytes
sent so far put on the terminal). ``diff()`` emits only the cells where they differ, with one
SGR per change of style (only the colours when only colours change), and then ``shown`` is
``wanted``. Frames skipped while a slow terminal drains (ui/terminal_output) simply leave the
two models apart; the next ``diff()`` catches up in one go, so only the latest frame costs bytes.

A cell is a grapheme (``""`` for the right half of a wide character) and a style key, the SGR
Textual would have written for it (so styles that render alike, whatever their meta, compare
equal). Nothing here knows Textual's compositor: ``apply`` takes (x, strip) pieces of a line.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.cells import get_character_cell_size
from rich.color import ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

COLOR_SYSTEMS = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT,
                 "truecolor": ColorSystem.TRUECOLOR, "windows": ColorSystem.WINDOWS}
# Two runs of changed cells closer than this are sent as one (a cursor move costs ~8 bytes).
MERGE_GAP = 6
# Styles remembered (a style seen again costs a dict lookup); past this the memo starts over.
MEMO_LIMIT = 20_000
# The terminal's scroll is used when at least this many rows move by it.
MIN_SCROLL_ROWS = 4
LINK_CLOSE = "\x1b]8;;\x1b\\"


class StyleKey:
    """How one style is written: its SGR parameters split into attributes / foreground /
    background (for short transitions), and its OSC 8 link opener ("" without a link)."""

    __slots__ = ("attrs", "fg", "bg", "link", "full", "simple")

    def __init__(self, params: str, link: str) -> None:
        attrs: list[str] = []
        fg = bg = ""
        tokens = params.split(";") if params else []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token in ("38", "48") and i + 1 < len(tokens):
                span = 3 if tokens[i + 1] == "5" else 5
                colour = ";".join(tokens[i:i + span])
                if token == "38":
                    fg = colour
                else:
                    bg = colour
                i += span
                continue
            if token in _FG_CODES:
                fg = token
            elif token in _BG_CODES:
                bg = token
            else:
                attrs.append(token)
            i += 1
        self.attrs = ";".join(attrs)
        self.fg, self.bg = fg, bg
        self.link = link
        self.full = params
        # Written as attributes, then foreground, then background (as Textual writes them):
        # then a change of colours alone can be sent as just those colours.
        self.simple = ";".join(p for p in (self.attrs, fg, bg) if p) == params

    def transition(self, before: "StyleKey | None") -> str:
        """The SGR that turns `before`'s rendition (None: right after a reset) into this one."""
        if before is None:
            return f"\x1b[{self.full}m" if self.full else ""
        if before.full == self.full:
            return ""
        if self.simple and before.simple and before.attrs == self.attrs:
            changed = [self.fg or "39"] if self.fg != before.fg else []
            if self.bg != before.bg:
                changed.append(self.bg or "49")
            return f"\x1b[{';'.join(changed)}m"
        return f"\x1b[0;{self.full}m" if self.full else "\x1b[0m"


# Attributes that do not show on a space (bold, dim, italic, blink, conceal); reverse,
# underline, strike-through and the like do.
_BLANK_SAFE = {"1", "2", "3", "5", "6", "8"}


def _blank_safe(attrs: str) -> bool:
    return not attrs or all(a in _BLANK_SAFE for a in attrs.split(";"))


_FG_CODES = {str(n) for n in (*range(30, 38), 39, *range(90, 98))}
_BG_CODES = {str(n) for n in (*range(40, 48), 49, *range(100, 108))}
PLAIN = StyleKey("", "")


class ScreenDiff:
    """The wanted and shown screens of one terminal, and the diff between them."""

    def __init__(self, color_system: ColorSystem = ColorSystem.TRUECOLOR) -> None:
        self.color_system = color_system
        self.width = self.height = 0
        self.known = False  # `wanted` holds a whole screen (a full update came since the reset)
        self.wanted_chars: list[list[str]] = []
        self.wanted_keys: list[list[StyleKey]] = []
        self.shown_chars: list[list[str] | None] = []  # None: this row's content on the terminal is unknown
        self.shown_keys: list[list[StyleKey] | None] = []
        self.dirty: set[int] = set()
        self.scroll_regions = True  # move rows with the terminal's scroll (ui/terminal_output may turn it off)
        self.scrolls = 0  # how often it did (tests, bench)
        self._keys: dict[Style, StyleKey] = {}
        self._params: dict[tuple[str, str], StyleKey] = {("", ""): PLAIN}

    # ---- the wanted screen --------------------------------------------------------------
    def reset(self, width: int, height: int) -> None:
        """A new screen of this size whose terminal content is unknown (start, resize, resume)."""
        self.width, self.height = width, height
        self.known = False
        self.wanted_chars = [[" "] * width for _ in range(height)]
        self.wanted_keys = [[PLAIN] * width for _ in range(height)]
        self.forget_shown()

    def forget_shown(self) -> None:
        """The terminal may show anything now: the next diff paints every row."""
        self.shown_chars = [None] * self.height
        self.shown_keys = [None] * self.height
        self.dirty = set(range(self.height))

    def apply(self, y: int, pieces: Iterable[tuple[int, Sequence[Segment]]]) -> None:
        """Textual painted row `y` with these (x, segments) pieces."""
        if not 0 <= y < self.height:
            return
        row_chars, row_keys = self.wanted_chars[y], self.wanted_keys[y]
        width = self.width
        for x, segments in pieces:
            chars, keys = self._cells(segments)
            end = min(width, x + len(chars))
            if end <= x:
                continue
            row_chars[x:end] = chars[: end - x]
            row_keys[x:end] = keys[: end - x]
            # A wide character cut at the right edge of the piece would leave a half behind.
            if end < width and row_chars[end] == "" and (not chars or chars[end - x - 1] != ""):
                row_chars[end] = " "
        self.dirty.add(y)

    def _key(self, style: Style | None) -> StyleKey:
        if style is None:
            return PLAIN
        key = self._keys.get(style)
        if key is None:
            rendered = Strip.render_style(style, "\0", self.color_system)
            link = ""
            if rendered.startswith("\x1b]8;"):
                end = rendered.index("\x1b\\") + 2
                link, rendered = rendered[:end], rendered[end:]
            params = rendered[2:rendered.index("m")] if rendered.startswith("\x1b[") else ""
            key = self._params.get((params, link))
            if key is None:
                if len(self._params) > MEMO_LIMIT:  # a link style has an id of its own: bounded
                    self._params = {("", ""): PLAIN}
                key = self._params[(params, link)] = StyleKey(params, link)
            if len(self._keys) > MEMO_LIMIT:  # styles carry meta (offsets, links): keep the memo bounded
                self._keys.clear()
            self._keys[style] = key
        return key

    def _cells(self, segments: Sequence[Segment]) -> tuple[list[str], list[StyleKey]]:
        chars: list[str] = []
        keys: list[StyleKey] = []
        for text, style, control in segments:
            if control or not text:
                continue
            key = self._key(style)
            if text.isascii():
                chars.extend(text)
                keys.extend([key] * len(text))
                continue
            for ch in text:
                size = get_character_cell_size(ch)
                if size == 1:
                    chars.append(ch)
                    keys.append(key)
                elif size == 2:
                    chars.extend((ch, ""))
                    keys.extend((key, key))
                elif chars:  # zero width: joins the cell before it
                    prev = len(chars) - 1 - (chars[-1] == "" and len(chars) > 1)
                    chars[prev] += ch
        return chars, keys

    # ---- the bytes --------------------------------------------------------------------------
    def _scroll(self, out: list[str]) -> bool:
        """When rows of the shown screen reappear `n` rows higher (lower) in the wanted one, as
        a chat pane that follows a growing reply does, move them with the terminal's own
        scrolling (a scroll region, as curses does) instead of repainting them. Whole rows move
        (the sidebar's part too, which the diff then repaints where it differs).

        Rows are matched on a window of columns that leaves out the screen's edges (a sidebar
        that stays, a scrollbar whose thumb moves); the move is made only if it saves cells."""
        height, width = self.height, self.width
        lo, hi = width * 3 // 10, width - max(2, width // 20)
        if hi - lo < 8:
            return False
        shown_rows: dict[tuple, int] = {}
        ambiguous: set[tuple] = set()
        for y in range(height):
            chars, keys = self.shown_chars[y], self.shown_keys[y]
            if chars is None or keys is None:
                continue
            row = (tuple(chars[lo:hi]), tuple(keys[lo:hi]))
            if row in shown_rows:
                ambiguous.add(row)
            shown_rows[row] = y
        votes: dict[int, list[int]] = {}
        for y in self.dirty:
            row = (tuple(self.wanted_chars[y][lo:hi]), tuple(self.wanted_keys[y][lo:hi]))
            if row in ambiguous:
                continue
            source = shown_rows.get(row)
            if source is not None and source != y:
                votes.setdefault(source - y, []).append(y)
        if not votes:
            return False
        shift, matched = max(votes.items(), key=lambda item: len(item[1]))
        if len(matched) < MIN_SCROLL_ROWS:
            return False
        # The region: from the first to the last matched row, in both positions.
        top = min(min(matched), min(matched) + shift)
        bottom = max(max(matched), max(matched) + shift)
        moved = range(top, bottom + 1 - shift) if shift > 0 else range(top - shift, bottom + 1)
        # Cells right after the move minus cells right now, in the region: worth a move?
        gain = 0
        for y in range(top, bottom + 1):
            if y in moved:
                gain += self._equal_cells(y, y + shift)
            gain -= self._equal_cells(y, y)
        if gain < MIN_SCROLL_ROWS * width // 2:
            return False
        # Margins, then index (up) at the bottom margin or reverse index (down) at the top one.
        if shift > 0:
            out.append(f"\x1b[{top + 1};{bottom + 1}r\x1b[{bottom + 1};1H" + "\x1bD" * shift + "\x1b[r")
            blank = range(bottom + 1 - shift, bottom + 1)
        else:
            out.append(f"\x1b[{top + 1};{bottom + 1}r\x1b[{top + 1};1H" + "\x1bM" * -shift + "\x1b[r")
            blank = range(top, top - shift)
        chars_before, keys_before = list(self.shown_chars), list(self.shown_keys)
        for y in moved:
            self.shown_chars[y], self.shown_keys[y] = chars_before[y + shift], keys_before[y + shift]
        for y in blank:  # what a terminal fills them with varies (bce): unknown, painted in full
            self.shown_chars[y] = self.shown_keys[y] = None
        self.dirty.update(range(top, bottom + 1))
        self.scrolls += 1
        return True

    def _blank_state(self, state: StyleKey | None, key: StyleKey) -> StyleKey | None:
        """The rendition spaces in `key` can be written with from `state` by setting only the
        background (the foreground and attributes like bold do not show on a space), or None
        when they need `key` itself (reverse, underline, strike-through, a link)."""
        state = state or PLAIN
        if not (key.simple and state.simple and not key.link and not state.link
                and _blank_safe(key.attrs) and _blank_safe(state.attrs)):
            return None
        if state.bg == key.bg:
            return state
        params = ";".join(p for p in (state.attrs, state.fg, key.bg) if p)
        found = self._params.get((params, ""))
        if found is None:
            found = self._params[(params, "")] = StyleKey(params, "")
        return found

    def _equal_cells(self, y: int, shown_y: int) -> int:
        """How many cells of wanted row `y` shown row `shown_y` already has, column for column."""
        chars, keys = self.shown_chars[shown_y], self.shown_keys[shown_y]
        if chars is None or keys is None:
            return 0
        wanted_chars, wanted_keys = self.wanted_chars[y], self.wanted_keys[y]
        return sum(1 for x in range(self.width) if chars[x] == wanted_chars[x] and keys[x] is wanted_keys[x])

    def changed(self) -> bool:
        """Whether any cell differs from what the terminal shows (drops rows that do not)."""
        for y in list(self.dirty):
            if self.shown_chars[y] == self.wanted_chars[y] and self.shown_keys[y] == self.wanted_keys[y]:
                self.dirty.discard(y)
        return bool(self.dirty)

    def diff(self, cursor: tuple[int, int] | None = None) -> str:
        """Escape sequences that turn the shown screen into the wanted one (then shown = wanted).
        `cursor`: where the terminal's cursor is now (saves the first move when it is there)."""
        out: list[str] = []
        at = cursor  # the terminal cursor, as far as we know
        if self.scroll_regions and len(self.dirty) >= MIN_SCROLL_ROWS and self._scroll(out):
            at = None
        style: StyleKey | None = None  # None: the SGR state after a reset
        width = self.width
        for y in sorted(self.dirty):
            new_chars, new_keys = self.wanted_chars[y], self.wanted_keys[y]
            old_chars, old_keys = self.shown_chars[y], self.shown_keys[y]
            if old_chars is not None and old_keys is not None:
                if new_chars == old_chars and new_keys == old_keys:
                    continue
                runs = _changed_runs(old_chars, old_keys, new_chars, new_keys, width)
            else:
                runs = [(0, width)]
            for start, stop in runs:
                if start < width and new_chars[start] == "" and start > 0:
                    start -= 1  # the right half of a wide character: paint from its left half
                while stop < width and new_chars[stop] == "":
                    stop += 1
                if at != (start, y):
                    out.append(f"\x1b[{y + 1};{start + 1}H")
                x = start
                while x < stop:
                    key = new_keys[x]
                    run_end = x + 1
                    while run_end < stop and new_keys[run_end] is key:
                        run_end += 1
                    text = "".join(new_chars[x:run_end])
                    if key is not style:
                        if style is not None and style.link and style.link != key.link:
                            out.append(LINK_CLOSE)
                        if key.link and (style is None or style.link != key.link):
                            out.append(key.link)
                        blank = self._blank_state(style, key) if text.isspace() else None
                        if blank is not None:  # spaces show only the background: change just that
                            if blank is not style:
                                out.append(f"\x1b[{key.bg or '49'}m")
                            style = blank
                        else:
                            out.append(key.transition(style))
                            style = key
                    out.append(text)
                    x = run_end
                at = (stop, y)
            self.shown_chars[y] = list(new_chars)
            self.shown_keys[y] = list(new_keys)
        self.dirty.clear()
        if style is not None:
            if style.link:
                out.append(LINK_CLOSE)
            if style.full:
                out.append("\x1b[0m")
        return "".join(out)


def _changed_runs(old_chars: list[str], old_keys: list[StyleKey], new_chars: list[str],
                  new_keys: list[StyleKey], width: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of cells that differ, runs closer than MERGE_GAP merged."""
    runs: list[tuple[int, int]] = []
    x = 0
    # Skip the equal head and tail in C first (most rows change in one place).
    while x < width and old_chars[x] == new_chars[x] and old_keys[x] is new_keys[x]:
        x += 1
    end = width
    while end > x and old_chars[end - 1] == new_chars[end - 1] and old_keys[end - 1] is new_keys[end - 1]:
        end -= 1
    start = None
    last_diff = -MERGE_GAP - 1
    for i in range(x, end):
        same = old_chars[i] == new_chars[i] and old_keys[i] is new_keys[i]
        if not same:
            if start is None:
                start = i
            elif i - last_diff > MERGE_GAP:
                runs.append((start, last_diff + 1))
                start = i
            last_diff = i
    if start is not None:
        runs.append((start, last_diff + 1))
    return runs
