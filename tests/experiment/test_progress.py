"""Progress: plain log lines when the output is not a terminal, a redrawn bar when it is."""

import io

from zoprl.experiment.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = Progress(4, 2, stream=out)
    bar.cell(0, "ZPG")
    bar.skipped(1)
    bar.done(2.0, "batch 1/1 chunk 1/3")
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "zoprl: cell 1/2 ZPG"
    assert "1 finished chunks found, resuming" in lines[1]
    assert "2/4 chunks" in lines[2] and "ETA 0:00:04" in lines[2]  # 2 s per chunk, 2 left
    assert "\r" not in out.getvalue()


def test_a_bar_on_a_terminal():
    out = Terminal()
    bar = Progress(4, 1, stream=out, width=8)
    bar.cell(0, "ZPG")
    bar.done(1.0)
    bar.done(1.0)
    bar.close()
    text = out.getvalue()
    assert "\r[####....] 2/4 chunks" in text and "ETA 0:00:02" in text
    assert text.endswith("\n") and "zoprl: cell" not in text


def test_disabled_progress_prints_nothing():
    out = io.StringIO()
    bar = Progress(2, 1, stream=out, enabled=False)
    bar.cell(0, "x")
    bar.note("compiling")
    bar.done(1.0)
    bar.close()
    assert out.getvalue() == ""


def test_compiling_is_a_timed_phase_and_no_empty_counts_or_zero_etas():
    out = io.StringIO()
    bar = Progress(0, 1, stream=out)
    with bar.phase("compiling ZPG (4 runs)"):
        pass
    bar.total = 2
    bar.cell(0, "ZPG")
    bar.done(2.0, "batch 1/1 start")
    bar.done(2.0, "batch 1/1 chunk 1/1")
    lines = out.getvalue().splitlines()
    assert lines[0] == "zoprl: compiling ZPG (4 runs) ..."
    assert lines[1].startswith("zoprl: compiling ZPG (4 runs): done in 0.0 s")
    assert "ETA 0:00:02" in lines[3] and lines[4].endswith("(2.0 s; 2/2 chunks)")
    assert "0/0" not in out.getvalue() and "ETA 0:00:00" not in out.getvalue()


def test_a_phase_on_a_terminal_ticks_its_elapsed_clock():
    out = Terminal()
    bar = Progress(0, 1, stream=out, tick=0.01)
    with bar.phase("compiling ZPG"):
        import time

        time.sleep(0.1)
    bar.close()
    frames = [f for f in out.getvalue().split("\r") if f]
    assert len(frames) >= 3 and all("compiling ZPG" in f for f in frames[:3])
    assert "chunks" not in out.getvalue() and "elapsed 0:00:00" in frames[0]
