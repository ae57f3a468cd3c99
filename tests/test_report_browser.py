"""The report's entry page and the HTML tables in headless Chromium: every link resolves, every figure
loads, and every page fits a 1400 px window (fairbench.reports.report_index, tables_html).

Chromium comes from the system (Debian's ``chromium``); where it is missing the fixture installs it with
apt-get (the package registry is the only network this touches) and skips, saying why, where it cannot.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from fairbench.reports.collect import collect_runs
from fairbench.reports.figures import write_figures
from fairbench.reports.report_index import write_entry_page
from fairbench.reports.tables import write_tables
from fairbench.reports.tables_html import write_html_tables
from tests.test_reports_fixtures import write_grid

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 1400
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")
#: Appended to a copy of a page: after load, the page's width, links and images as JSON in a hidden <pre>.
PROBE = """<script>window.addEventListener("load", () => {
  const out = {width: document.documentElement.scrollWidth,
               links: [...document.querySelectorAll("a")].map(a => a.href),
               images: [...document.images].map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0}))};
  const pre = document.createElement("pre"); pre.id = "probe"; pre.hidden = true;
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});</script>"""


def _install_chromium() -> str | None:
    """Debian's chromium through apt-get (root only); None when that is not possible here."""
    if shutil.which("apt-get") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=900, env=env)
        except (subprocess.SubprocessError, OSError):
            return None
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or _install_chromium()
    if found is None:
        pytest.skip("headless Chromium is not installed and `apt-get install -y chromium` is not possible here "
                    "(needs root, apt-get and the Debian package registry)")
    return found


def probe(browser: str, page: Path, profile: Path) -> dict:
    """Load a copy of ``page`` (same folder, so relative links stay) at 1400 px; its width, links, images."""
    copy = page.with_name(f".probe-{page.name}")
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    try:
        done = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW},1000",
                               "--virtual-time-budget=10000", "--dump-dom", copy.as_uri()],
                              capture_output=True, text=True, timeout=180)
    finally:
        copy.unlink()
    found = re.search(r'<pre id="probe" hidden="">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, f"Chromium did not run the probe on {page.name}: {done.stderr[-800:]}"
    return json.loads(html.unescape(found.group(1)))


def _local(url: str) -> Path:
    parsed = urlparse(url)
    assert parsed.scheme == "file", f"the report links outside itself: {url}"
    return Path(unquote(parsed.path))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder as the pipeline leaves it: tables, their HTML, figures, findings, the entry page."""
    results = tmp_path_factory.mktemp("results")
    write_grid(results / "runs", settings=["titanic-sex"], methods=["erm", "ltr", "nbs_ltr"], protocols=["standard"],
               seeds=range(3), epochs=5, bargain_epochs=3)
    frame = collect_runs(results / "runs")
    write_tables(frame, results / "tables")
    write_html_tables(results / "tables", results / "report" / "tables")
    write_figures(frame, results / "figures" / "runs")
    findings = results / "report" / "findings.html"
    findings.write_text("<!DOCTYPE html><html><body><h1>Findings</h1></body></html>\n", encoding="utf-8")
    write_entry_page(results / "report" / "index.html", tables=results / "report" / "tables",
                     tables_source=results / "tables", figures=[results / "figures" / "runs"], findings=findings)
    return results


def test_the_entry_page_links_every_table_figure_and_the_findings(report: Path) -> None:
    page = (report / "report" / "index.html").read_text(encoding="utf-8")
    for table in (report / "report" / "tables").glob("*.html"):
        if table.name != "index.html":
            assert f'href="tables/{table.name}"' in page, table.name
    figures = sorted((report / "figures" / "runs").glob("*.png"))
    assert figures and all(f'src="../figures/runs/{f.name}"' in page for f in figures)
    assert 'href="findings.html"' in page
    # what the runs could not support is said on the page (here: no ablation runs, few seeds)
    assert "Not built: what the runs lack" in page and "ablation" in page


def test_the_entry_page_in_chromium_resolves_every_link_and_loads_every_figure(report: Path, chromium: str,
                                                                              tmp_path: Path) -> None:
    seen = probe(chromium, report / "report" / "index.html", tmp_path / "profile")
    images = seen["images"]
    assert len(images) == len(list((report / "figures" / "runs").glob("*.png")))
    assert all(image["ok"] for image in images), [i["src"] for i in images if not i["ok"]]
    targets = [_local(link) for link in seen["links"]]
    assert targets and all(t.is_file() for t in targets), [str(t) for t in targets if not t.is_file()]
    assert {t.name for t in targets} >= {"findings.html", "main_standard.html", "paired_tests.html"}
    assert seen["width"] <= WINDOW
    # the tables' own index page links its tables too
    listed = probe(chromium, report / "report" / "tables" / "index.html", tmp_path / "profile")
    assert {_local(link).name for link in listed["links"]} >= {"main_standard.html", "paired_tests.html"}
    assert all(_local(link).is_file() for link in listed["links"])


def test_every_committed_table_fits_a_1400_px_window(chromium: str, tmp_path: Path) -> None:
    pages = write_html_tables(ROOT / "results" / "tables", tmp_path / "html")
    for page in pages:
        width = probe(chromium, page, tmp_path / "profile")["width"]
        assert width <= WINDOW, f"{page.name} is {width} px wide"
