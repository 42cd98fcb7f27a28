#!/usr/bin/env python3
"""Issue 14 item 2: `waitgraph report --format html` in a real browser.

Records a real deadlock, writes the HTML report and checks:
  - the page is self-contained: no script, no stylesheet or font link,
    nothing with a network URL (the only URLs are SVG's XML namespaces);
  - headless Chromium renders it (a screenshot is kept in --out-dir) and its
    DOM, after parsing, holds every finding's message, the cycle's SVG
    inside the deadlock's finding, and the timeline SVG with its waits,
    stall, hand-offs and finding marks.
Skips (exit 77) only when Chromium is not installed.

usage: test_html_report.py --waitgraph BIN --out-dir DIR [--chromium BIN] [--python PY]
"""
import argparse
import html.parser
import os
import re
import shutil
import sys

import pictures_common
import wgtest

SKIP = 77
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


class Dom(html.parser.HTMLParser):
    """Elements of a dumped DOM: (tag, attrs, enclosing tags) and all text."""

    def __init__(self):
        super().__init__()
        self.stack, self.elements, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), list(self.stack)))
        if tag not in ("br", "meta", "path", "rect", "line", "polygon", "ellipse", "polyline"):
            self.stack.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        self.text.append(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    args = ap.parse_args()
    args.waitgraph = os.path.abspath(args.waitgraph)
    if not shutil.which(args.chromium):
        print("SKIP: no Chromium at %s (Debian package `chromium`)" % args.chromium)
        return SKIP
    c = wgtest.Checker("html_report")
    os.makedirs(args.out_dir, exist_ok=True)
    with wgtest.scratch_dir("wg-html-") as tmp:
        trace = pictures_common.record(args, tmp, c)
        if trace:
            check(args, trace, tmp, c)
    return c.finish()


def browser(args, tmp, *flags):
    profile = os.path.join(tmp, "chromium-profile")
    env = dict(wgtest.env_without_waitgraph(), HOME=tmp)
    return wgtest.run([args.chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                       "--no-first-run", "--user-data-dir=" + profile] + list(flags),
                      limit=120, env=env, cwd=tmp)


def check(args, trace, tmp, c):
    findings = pictures_common.analyze_json(args, trace, tmp, c)
    page = os.path.join(args.out_dir, "report.html")
    r = wgtest.run([args.waitgraph, "report", trace, "--format", "html", "--output", page], limit=60, cwd=tmp)
    if not c.expect(r.returncode == 0 and os.path.exists(page), "report --format html writes the page",
                    r.describe()):
        return
    with open(page, encoding="utf-8") as f:
        source = f.read()
    urls = set(re.findall(r"[a-z]+://[^\s\"'<>)]+", source)) - NAMESPACES
    c.expect(not urls, "no network URL in the page (only SVG namespaces)", str(urls))
    c.expect(not re.search(r"<script|<link|@import|@font-face|<iframe|<img", source, re.I),
             "no script, link, import, font, frame or image element: self-contained")

    shot = os.path.join(args.out_dir, "report.png")
    if os.path.exists(shot):
        os.unlink(shot)
    r = browser(args, tmp, "--window-size=1400,1800", "--screenshot=" + shot, "file://" + page)
    c.expect(os.path.exists(shot) and os.path.getsize(shot) > 10000,
             "Chromium renders the page to a screenshot (%s)" % shot, r.describe())
    if os.path.exists(shot):
        with open(shot, "rb") as f:
            c.expect(f.read(8) == b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG")

    r = browser(args, tmp, "--dump-dom", "file://" + page)
    dom_text = r.stdout.decode("utf-8", "replace")
    with open(os.path.join(args.out_dir, "report.dom.html"), "w") as f:
        f.write(dom_text)
    c.expect(r.returncode == 0 and "<svg" in dom_text, "Chromium dumps the page's DOM", r.describe())
    dom = Dom()
    dom.feed(dom_text)
    text = " ".join(dom.text)
    articles = [a for tag, a, _ in dom.elements if tag == "article" and "finding" in a.get("class", "")]
    c.expect(len(articles) == len(findings) >= 2, "an article per finding (%d)" % len(findings),
             str(articles))
    flat = re.sub(r"\s+", " ", text)
    for f in findings:
        c.expect(re.sub(r"\s+", " ", f["message"]) in flat, "the DOM has the message of %s" % f["name"])
    cycle_svgs = [enc for tag, _, enc in dom.elements
                  if tag == "svg" and any(t == "figure" and "cycle" in a.get("class", "") for t, a in enc)]
    deadlock_article = [enc for enc in cycle_svgs
                        if any(t == "article" and "error" in a.get("class", "") for t, a in enc)]
    c.expect(len(cycle_svgs) == sum(1 for f in findings if f["name"] == "cross-call-deadlock") and deadlock_article,
             "the deadlock's article holds its cycle as an inline SVG")
    edges = [a for tag, a, enc in dom.elements
             if tag == "g" and a.get("class") == "edge" and any(t == "figure" for t, _ in enc)]
    c.expect(len(edges) == 4, "the cycle has its four edges in the DOM", str(len(edges)))
    timeline = [a for tag, a, _ in dom.elements if tag == "svg" and a.get("class") == "timeline"]
    c.expect(len(timeline) == 1, "the timeline is an inline SVG")
    classes = [a.get("class") for tag, a, _ in dom.elements if tag in ("rect", "path", "g")]
    for kind in ("wait", "stall", "loop", "handoff", "loop-mark", "finding-mark", "track"):
        c.expect(kind in classes, "the timeline draws %s items" % kind)
    c.expect("MainThread" in text and "lookup-worker" in text, "the timeline rows name the threads")


if __name__ == "__main__":
    sys.exit(main())
