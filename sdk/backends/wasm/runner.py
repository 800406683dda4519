"""Run a WebAssembly bundle in node (``run_node.mjs`` of the bundle) or in headless Chromium (Playwright)."""
from __future__ import annotations

import contextlib
import json
import shutil
import threading
from pathlib import Path

import numpy as np

from ...errors import BuildError, SdkError
from ..host.runner import run_demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# (Playwright adds its own switches, among them --disable-renderer-backgrounding, --disable-background-timer-throttling
# and --disable-backgrounding-occluded-windows.)


def _meta(out: Path) -> dict:
    path = Path(out) / "bundle.json"
    if not path.exists():
        raise SdkError(f"{out}: not a bundle folder (no bundle.json)")
    meta = json.loads(path.read_text())
    if "wasm" not in meta:
        raise SdkError(f"{out}: not a wasm bundle (built for target '{meta.get('target')}')")
    return meta


def _ensure_built(out: Path, meta: dict, rebuild: bool):
    if rebuild or not (out / meta["wasm"]).exists():
        from .bundle import build_wasm
        build_wasm(out)


class WasmRunner:
    """``run(bundle_dir, {name: array}) -> ({output name: array}, info)``; info has ``median_ms``."""

    def __init__(self, node: str = "node"):
        self.node = node

    def build(self, out, program=None) -> Path:
        """Build the .wasm (one module serves run, generate and the text path); returns the node script of
        ``program`` (``<name>_ask``: ask_node.mjs, ``<name>_generate``: generate_node.mjs, else run_node.mjs)."""
        out = Path(out)
        _ensure_built(out, _meta(out), False)
        if program and program.endswith("_ask"):
            return out / "ask_node.mjs"
        return out / ("generate_node.mjs" if program else "run_node.mjs")

    def command(self, out, script) -> list:
        if shutil.which(self.node) is None:
            raise BuildError("node not found: install nodejs (>= 18) to run wasm bundles")
        return [self.node, str(script)]

    def run(self, out, inputs: dict, arena=None, repeat=1, rebuild=False):
        out = Path(out)
        meta = _meta(out)
        _ensure_built(out, meta, rebuild)
        if shutil.which(self.node) is None:
            raise BuildError("node not found: install nodejs (>= 18) to run wasm bundles")
        outs, info, _ = run_demo([self.node, str(out / "run_node.mjs")], meta, inputs, None, repeat, "wasm bundle run")
        return outs, info


MIME = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript", ".json": "application/json",
        ".html": "text/html; charset=utf-8"}


def make_server(folder, host="127.0.0.1", port=8000, quiet=True):
    """An HTTP server for a bundle folder with the MIME types browsers need (application/wasm, text/javascript)."""
    import functools
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME}

        def end_headers(self):
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

        def log_message(self, fmt, *args):
            if not quiet:
                super().log_message(fmt, *args)

    return http.server.ThreadingHTTPServer((host, port), functools.partial(Handler, directory=str(folder)))


@contextlib.contextmanager
def serve_folder(folder, port=0):
    """Serve ``folder`` on 127.0.0.1 in a background thread; yields the base URL."""
    httpd = make_server(folder, "127.0.0.1", port)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def chromium_page(executable=CHROMIUM):
    """A headless Chromium page (Playwright driving the system browser; never a downloaded one)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BuildError("playwright missing: pip install playwright (uses /usr/bin/chromium)") from None
    if not Path(executable).exists():
        raise BuildError(f"{executable} missing: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            yield page
        finally:
            browser.close()


class ChromiumRunner(WasmRunner):
    """Runs the bundle's ES module inside headless Chromium, served from 127.0.0.1 (``build``/``command``, which
    generation uses, are WasmRunner's node scripts)."""

    def run(self, out, inputs: dict, arena=None, repeat=1, rebuild=False):
        out = Path(out)
        meta = _meta(out)
        _ensure_built(out, meta, rebuild)
        feeds = {}
        for n in meta["inputs"]:
            a = np.ascontiguousarray(inputs[n], dtype=np.float32)
            feeds[n] = {"data": a.reshape(-1).tolist(), "shape": list(a.shape)}
        with serve_folder(out) as url, chromium_page() as page:
            page.goto(url + "index.html")
            res = page.evaluate("""async ([mod, feeds, repeat]) => {
                const { Model } = await import(mod);
                const m = await Model.load();
                const inp = {};
                for (const [k, v] of Object.entries(feeds)) inp[k] = { data: Float32Array.from(v.data), shape: v.shape };
                let out, times = [];
                for (let r = 0; r < repeat; ++r) { const t0 = performance.now(); out = m.run(inp); times.push(performance.now() - t0); }
                times.sort((a, b) => a - b);
                const res = { median_ms: times[times.length >> 1], outputs: {} };
                for (const [k, v] of Object.entries(out)) res.outputs[k] = { data: Array.from(v), shape: v.shape };
                return res;
            }""", [f"./{meta['module']}", feeds, max(1, repeat)])
        outs = {k: np.asarray(v["data"], np.float32).reshape(v["shape"]) for k, v in res["outputs"].items()}
        return outs, {"median_ms": str(res["median_ms"])}
