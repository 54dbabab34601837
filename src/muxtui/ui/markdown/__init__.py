"""A Markdown widget fed incrementally while a reply streams, and cheap to show when finished.

Interface (kept stable for the chat pane):
    w = StreamingMarkdown(text="", streaming=True)
    w.append(chunk)          # cheap, sync, non-blocking; bursts are coalesced into one frame
    await w.finish(full)     # stop streaming, render the final text (late-closed fences fixed)
    w.text                   # everything appended so far

Why not Textual's ``Markdown`` + ``get_stream``: every block there is a widget (a five-item
list is ~20), and each append re-splits the whole document, so a long reply grows to thousands
of widgets and the event loop stalls for seconds (numbers in bench/). Here:

* **Blocks are painted, not mounted.** Parsed blocks become small ``_Node`` trees, painted
  into lines with Textual's own code (``Content.render_strips`` for text, ``StylesCache``
  for padding, borders and backgrounds). The styles come from the real Markdown block classes,
  resolved by the app's stylesheet at this widget's place in the DOM (``_Styler``): theme,
  dark/light, ANSI mode and app CSS apply exactly as to a mounted ``MarkdownParagraph``, and
  the result is cell-for-cell what ``Markdown`` shows (tests/test_streaming_markdown.py).
  Only a top-level block holding a table is left to a real ``Markdown`` (grids are Textual's).
* **Finished blocks freeze.** CommonMark is line-incremental: once a later top-level block
  has started on a complete line, every earlier one is final. Final blocks are parsed once,
  painted once and then kept only as their painted lines (tuples the garbage collector does
  not track) plus their source; only the open block and the partial last line are re-parsed
  each frame. A ``_Blocks`` widget holds up to ``GROUP_BLOCKS`` blocks, frozen and live
  together, so freezing never changes a widget's height; while streaming its height grows in
  steps of ``RESERVE`` lines. Both matter because Textual repaints the whole chat pane on a
  layout change, and only the changed lines on a plain refresh.
* **Appends are coalesced; bursts are bounded.** ``append`` only stores the chunk; one flush
  per frame (``FRAME``) renders it. A flush takes a window of about a character budget
  (adapted to keep each step near ``STEP_TARGET``), so a fast model or a long text at once is
  rendered over several frames and the event loop never stalls; big tails are parsed in a
  thread.
* **Every step makes progress, whatever it cost** (a loaded machine only makes steps
  smaller): it freezes a block, reaches the end, or, when the open block fills the window,
  doubles the next window. An open block past ``LIVE_MAX`` (a table past ``TABLE_MAX``)
  is not re-styled every frame: it becomes a ``_PlainBlock``, its Markdown source folded at
  the width and extended by ``PLAIN_STEP`` characters a step; a line scanner (``_Scanner``)
  finds where it ends without parsing it. Once closed, a plain block up to ``STYLE_MAX`` is
  parsed and painted in a thread and then shown styled, exactly as a small block; tables
  and longer blocks stay plain. So any reply renders completely, in time linear in its
  length, and nothing is left out.

The widget count is about blocks/64 + tables, whatever the reply length.

Where each part lives:
    blocks.py    the parser, block trees (``_Node``), ``parse_pieces``, the ``_Scanner``
    styling.py   ``_Styler`` (the CSS a mounted block would get) and ``_Look`` (painting with it)
    painting.py  ``_Painter``, painted lines (``Line``, ``_StyleTable``), ``_Folder`` (fold at a width)
    groups.py    ``_Blocks``: a group of frozen and live blocks, one widget
    plain.py     ``_PlainBlock``: a block too big to style in a frame, plain first, styled later
    steps.py     ``_Steps``: the bounded flush steps, and the tuning constants they read
    widget.py    ``StreamingMarkdown``: the interface, mounting, flush scheduling, refreshes
Private Textual names go through ``muxtui.ui.textual_private``.
"""

from muxtui.ui.markdown.widget import StreamingMarkdown

__all__ = ["StreamingMarkdown"]
