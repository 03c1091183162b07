"""`seas report`: the page's content, its escaping, partial runs, and a real browser rendering it."""

import base64
import io
import re
import shutil
import subprocess

import pytest
from test_eval import evaluated, finished_run  # noqa: F401 - module-scoped fixtures

from seas.cli import main
from seas.io import read_jsonl, write_jsonl
from seas.report import build_report, write_report
from seas.report.findings import findings, monotone

SECTIONS = ("What this run shows", "Target ASR per iteration", "Red team × target", "Per category",
            "Diversity of each red team", "Safety vs over-refusal", "Training", "Sample attacks")


@pytest.fixture(scope="module")
def report(evaluated):  # noqa: F811
    out, ev = evaluated
    return out, write_report(out).read_text(encoding="utf-8")


def test_report_has_every_section_and_is_self_contained(report):
    out, page = report
    for heading in SECTIONS:
        assert heading in page, heading
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 6
    for b64 in images:
        assert base64.b64decode(b64).startswith(b"\x89PNG")
    assert "<script" not in page.lower()
    assert not re.search(r'(?:src|href)\s*=\s*"(?!data:)', page), "the page must not load anything"
    assert "R0" in page and "T1" in page


def test_model_output_is_escaped(evaluated, tmp_path):  # noqa: F811
    src, _ = evaluated
    out = tmp_path / "run"
    shutil.copytree(src, out)
    path = out / "iter_1" / "attack.jsonl"
    rows = read_jsonl(path)
    for r in rows:
        r["response"] = '<script>alert("pwned")</script>' + r["response"]
        r["prompt"] = "<img src=x onerror=alert(1)>"
        r["category"] = "<b>cat</b>"
        r["judge_raw"] = "</td></tr></table><h1>x</h1>"
    write_jsonl(path, rows)
    page = build_report(out, samples=len(rows))
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>cat</b>" not in page and "</td></tr></table><h1>x</h1>" not in page


def test_partial_run_without_eval(finished_run, tmp_path):  # noqa: F811
    out = tmp_path / "partial"
    shutil.copytree(finished_run, out, ignore=shutil.ignore_patterns("eval", "eval.json"))
    (out / "metrics.json").unlink()
    shutil.rmtree(out / "iter_1")
    page = build_report(out)
    assert "No eval.json" in page and "partial: 0 of 1 iterations" in page
    assert "No attack.jsonl yet" in page and "Training" in page


def test_cli_report(evaluated, tmp_path, capsys):  # noqa: F811
    out, _ = evaluated
    target = tmp_path / "r.html"
    assert main(["report", str(out), "--output", str(target), "--samples", "2"]) == 0
    assert str(target) in capsys.readouterr().out and target.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(tmp_path / "nope")]) == 2


def _ev(target_asr, matrix_col):
    return {
        "target_asr": {f"T{i}": {"test": {"value": v, "ci": ci}} for i, (v, ci) in enumerate(target_asr)},
        "asr_matrix": {"redteams": [f"R{i}" for i in range(len(matrix_col))], "targets": ["T0"],
                       "values": [[v] for v, _ in matrix_col], "ci": [[ci] for _, ci in matrix_col],
                       "n": [[100]] * len(matrix_col), "unknown": [[0]] * len(matrix_col)},
        "over_refusal": {}, "capability": {}, "heldout": {},
    }


def test_findings_say_plainly_whether_the_trends_hold():
    good = _ev([(0.6, [0.5, 0.7]), (0.3, [0.2, 0.4]), (0.1, [0.05, 0.15])],
               [(0.5, [0.4, 0.6]), (0.8, [0.7, 0.9])])
    f = findings(good, {"iterations": [{}, {}]}, 2)
    assert [x["status"] for x in f[:2]] == ["shown", "shown"]
    assert f[0]["text"].startswith("Shows the paper's first trend")
    flat = _ev([(0.6, [0.4, 0.8]), (0.55, [0.35, 0.75])], [(0.5, [0.4, 0.6]), (0.45, [0.35, 0.55])])
    f = findings(flat, {"iterations": [{}]}, 3)
    assert f[0] == {"status": "note", "text": "The run is partial: 1 of 3 iterations are finished."}
    assert f[1]["status"] == "not shown" and f[1]["text"].startswith("Does not show the paper's first trend")
    assert f[2]["status"] == "not shown" and "wrong direction" in f[2]["text"]
    assert monotone([("T0", .6, [.5, .7]), ("T1", .5, [.4, .65]), ("T2", .2, [.1, .3])], "down")[0] == "partly"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium); .ci/run installs it")
def test_report_renders_in_a_headless_browser(report, tmp_path):
    out, _ = report
    png = tmp_path / "shot.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={png}", "--window-size=1200,2000", (out / "report.html").resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.is_file(), r.stderr[-2000:]
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG")
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        assert len(set(data)) > 200
        return
    im = Image.open(io.BytesIO(data)).convert("RGB")
    assert im.size == (1200, 2000)
    colours = im.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "screenshot looks blank"
    white = max(count for count, c in colours if c == (255, 255, 255)) if any(c == (255, 255, 255) for _, c in colours) else 0
    assert white < 0.97 * im.size[0] * im.size[1], "screenshot is nearly all white"
