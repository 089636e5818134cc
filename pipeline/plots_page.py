"""Stage `plots_page`: the HTML template that lets `dvc plots show/diff` draw charts offline.

DVC's default page loads Vega, Vega-Lite and Vega-Embed from a CDN, so with no network every
chart is blank. `.dvc/config` `[plots] html_template` points DVC at this page instead: it
inlines the three libraries (bundled by vl-convert) and leaves out DVC's `{scripts}`
placeholder, where the CDN tags would go.
"""
from __future__ import annotations

from pathlib import Path

import vl_convert

from pipeline.fsutil import atomic_path

OUT = Path("plots/page.html")

# DVC's chart specs declare Vega-Lite v5 ($schema .../vega-lite/v5.json); 5.21 is the newest v5
# vl-convert bundles. DVC's chart divs call the global `vegaEmbed(id, spec)`; the wrapper pins
# SVG: it stays sharp when zoomed, and tests see the drawn marks in the DOM (a canvas hides them).
VEGA_LITE = "5.21"
SNIPPET = """
window.vega = vega;
window.vegaLite = vegaLite;
window.vegaEmbed = (el, spec, opts) => vegaEmbed(el, spec, {renderer: "svg", ...opts});
"""

# DVC fills only {plot_divs} (required), {scripts} and {refresh_tag} by plain string replace, so
# the CSS and JavaScript braces need no escaping. The bundle runs before the chart divs' inline
# scripts, which call vegaEmbed as the page parses; the function scope keeps the bundle's
# top-level names out of the globals those scripts share.
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>DVC plots</title>
<style>
body { font-family: system-ui, sans-serif; margin: 16px; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
main > div { overflow-x: auto; }
img { max-width: 100%; image-rendering: pixelated; }
</style>
<script>(function () {
"use strict";
BUNDLE
})();</script>
</head>
<body>
<main>
{plot_divs}
</main>
</body>
</html>
"""


def template_html() -> str:
    """The page template: DVC's placeholders around an inline Vega/Vega-Lite/Vega-Embed bundle."""
    bundle = vl_convert.javascript_bundle(SNIPPET, vl_version=VEGA_LITE)
    # An inline script ends at the first "</script"; the bundle has none today, so check, not escape.
    if "</script" in bundle.lower():
        raise ValueError("the vl-convert bundle contains '</script' and cannot be inlined")
    return PAGE.replace("BUNDLE", bundle)


def write_template(path: Path | str = OUT) -> Path:
    """Write the template to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(template_html(), encoding="utf8")
    return Path(path)


def main() -> None:
    path = write_template(OUT)
    print(f"plots_page: Vega-Lite {VEGA_LITE}, {path.stat().st_size // 1024} KiB -> {path}")


if __name__ == "__main__":
    main()
