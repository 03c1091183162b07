"""Regenerate the README's configuration reference from the config dataclasses."""

import contextlib
import io
import re
from pathlib import Path

from seas.cli import main

readme = Path(__file__).resolve().parents[1] / "README.md"
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    main(["config", "--markdown"])
text = readme.read_text()
start = text.index("| key | type | default | meaning |")
end = text.index("\n\n", start)
readme.write_text(text[:start] + buf.getvalue().rstrip("\n") + text[end:])
