"""What a frame costs while a reply streams, counted (never timed): layouts per growth of the
reply, which widgets a frame renders, what a spinner tick repaints and that it draws exactly
what a full render of the row would.
"""

from __future__ import annotations

from textual.strip import Strip

from muxtui.ui.sidebar import SPINNER, row_content, spinner_column
from muxtui.ui.state import WorkspaceState
from tests.helpers.app import SIZE, make_app, send, settle, start, until, use_model


def cells(strip: Strip) -> list[tuple[str, object]]:
    """A strip as (character, style) per cell: equal strips may be cut into different segments."""
    return [(character, segment.style) for segment in strip for character in segment.text]


def test_the_spinner_sits_where_spinner_column_says():
    for unread in (False, True):
        for name in ("a", "a workspace with a long name that is cut"):
            state = WorkspaceState(id="w", name=name, model="m", streaming=True, unread=unread)
            for width in (4, 5, 8, 20, 40):
                column = spinner_column(state, width)
                assert column is not None
                for frame in range(len(SPINNER)):
                    line = row_content(state, 3, width, frame, False).split()[0].plain
                    if len(line) > width:
                        continue  # too narrow for the marks: the sidebar sees it and redraws the row
                    assert line[column] == SPINNER[frame], (unread, name, width, frame, line)
    idle = WorkspaceState(id="w", name="a", model="m")
    assert spinner_column(idle, 20) is None


async def test_a_spinner_tick_repaints_one_cell_and_draws_a_full_render(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=40&pause_after=3&gate=spin-cell")
        await send(pilot, app, "go")
        await fake_server.areached("spin-cell")
        await settle(app, pilot)
        sidebar = app.sidebar
        await until(pilot, lambda: sidebar._streaming, "the row streaming")
        regions = []
        original = sidebar.refresh

        def recording(*args, **kwargs):
            regions.extend(args)
            return original(*args, **kwargs)

        sidebar.refresh = recording
        row = sidebar.workspace_ids.index(app.current_id)
        for frame in range(1, 2 * len(SPINNER) + 1):
            sidebar.tick(frame)
            spun = sidebar._row_strips(row, sidebar.size.width)
            sidebar._row_cache.clear()  # (our own cache) a render from scratch at this frame
            fresh = sidebar._row_strips(row, sidebar.size.width)
            assert [cells(s) for s in spun] == [cells(s) for s in fresh]
            assert SPINNER[frame % len(SPINNER)] in spun[0].text
        sidebar.refresh = original
        assert regions and all(r.width == 1 and r.height == 1 for r in regions), regions
        fake_server.release("spin-cell")
        await app.engine.manager.wait_idle(app.current_id)


async def test_a_growing_reply_costs_two_layouts_per_growth_and_frames_skip_other_widgets(paths, fake_server):
    """Before: every frame re-rendered the footer and composer too."""
    from muxtui.ui.composer import Composer
    from muxtui.ui.footer import StableFooter

    app = make_app(paths)
    async with app.run_test(size=(100, 24)) as pilot:
        await start(app, pilot)
        # ~250 lines at 30 fps: the reply outgrows the pane and grows for many frames
        await use_model(app, pilot, "fake:m?chunks=1500&delay_ms=2")
        screen = app.screen
        heights: list[int] = []
        original_layout = screen._refresh_layout

        def layout(*args, **kwargs):
            outcome = original_layout(*args, **kwargs)
            heights.append(app.chat.virtual_size.height)
            return outcome

        rendered = {"composer": 0, "footer": 0}

        def counting(widget, name):
            original = widget.render_lines

            def render_lines(crop):
                rendered[name] += 1
                return original(crop)

            widget.render_lines = render_lines

        counting(app.query_one(Composer), "composer")
        counting(app.query_one(StableFooter), "footer")
        screen._refresh_layout = layout
        await send(pilot, app, "go")
        await until(pilot, lambda: app.chat.virtual_size.height > app.chat.size.height, "the reply filling the pane")
        heights.clear()
        rendered.update(composer=0, footer=0)
        live = app.chat.live
        flushes_before = live.body.flushes if live is not None else 0
        await app.engine.manager.wait_idle(app.current_id)
        frames = live.body.flushes - flushes_before if live is not None else 0
        screen._refresh_layout = original_layout
        await settle(app, pilot)
        growths = sum(1 for a, b in zip(heights, heights[1:]) if b != a)
        echoes = sum(1 for a, b in zip(heights, heights[1:]) if b == a)
        assert growths >= 3, heights
        # Each growth still costs two layouts (the second: Textual sets virtual_size, a layout
        # reactive, inside the first; declaring it without layout on the reply's widgets left
        # a reply's end off screen under load, tests/test_render_shapes.py): not more.
        assert echoes <= growths + 2, heights
        # Frames repaint the chat; the composer and the footer below it are rendered again only
        # for a full repaint (the end of the reply, a new scrollbar): a few times, never per frame.
        assert frames >= 10, frames
        assert rendered["footer"] <= 4, (rendered, frames)
        assert rendered["composer"] <= 6, (rendered, frames)


async def test_a_new_header_title_repaints_without_a_layout(paths, fake_server):
    from muxtui.ui.textual_private import screen_strips

    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        screen = app.screen
        layouts = []
        original = screen._refresh_layout
        screen._refresh_layout = lambda *a, **k: (layouts.append(1), original(*a, **k))[1]
        app.sub_title = "a new sub-title, longer than the one before it"
        await pilot.pause()
        await pilot.pause()
        screen._refresh_layout = original
        assert "a new sub-title" in screen_strips(screen)[0].text
        assert layouts == [], "a title change laid out the whole screen"


async def test_the_screen_renders_every_cell_as_textual_would(paths, fake_server):
    """render_only_what_shows skips covered widgets and rows: every cell an update shows must
    still be the one Textual's own _render_chops gives (full screen, and partial crops)."""
    from textual.geometry import Region

    from muxtui.ui.textual_private import render_both_ways, screen_size

    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=300&pause_after=200&gate=same-cells")
        await send(pilot, app, "go")
        await fake_server.areached("same-cells")
        await settle(app, pilot)
        width, height = screen_size(app.screen)
        crops = [Region(0, 0, width, height), Region(0, 1, 30, 3), Region(35, 5, 40, 12),
                 Region(width - 3, 0, 3, height), Region(10, height - 4, width - 10, 4)]
        checked = 0
        for crop in crops:
            for rows in (lambda y: True, lambda y: y % 3 == 0):
                ours, theirs, cuts = render_both_ways(app.screen, crop, rows)
                for y in range(crop.y, crop.bottom):
                    if not rows(y):
                        continue
                    for left, right in zip(cuts[y], cuts[y][1:]):
                        if right <= crop.x or left >= crop.right:
                            continue
                        assert ours[y][left] is not None, (crop, y, left)
                        assert cells(ours[y][left]) == cells(theirs[y][left]), (crop, y, left)
                        checked += 1
        assert checked > 100
        fake_server.release("same-cells")
        await app.engine.manager.wait_idle(app.current_id)
