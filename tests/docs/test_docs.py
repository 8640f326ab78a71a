"""Executable docs: every python/bash block of README.md and docs/*.md runs against a real node.

One test per page, so a failure names the page (and the block's line). The pages share one
node, as a reader following README.md and then every page would; each page gets a fresh working
directory. The marking convention is described in `docs_runner.py` and docs/contributing-docs.md.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from docs_runner import Block, PageError, PageRun, blocks, used_names

from harness import NodeProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def page_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.fixture(scope="module")
def docs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One node for every page, as a reader has one node running while following the docs."""
    node = NodeProcess(tmp_path_factory.mktemp("docs-node") / "data", free_port())
    node.start()
    yield node
    node.stop()


def reader_env(home: Path, node: NodeProcess) -> dict[str, str]:
    """A clean shell environment: no AWS settings of the machine, `lamina` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMINA_"))}
    env.update(
        {
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
            "LAMINA_ENDPOINT_URL": node.url,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", PAGES, ids=page_name)
def test_page_runs_top_to_bottom(path: Path, docs_node: NodeProcess, tmp_path: Path) -> None:
    page_blocks = blocks(path, page_name(path))
    home = tmp_path / "home"
    home.mkdir()
    run = PageRun(f"127.0.0.1:{docs_node.port}", tmp_path, reader_env(home, docs_node))
    try:
        run.run(page_blocks)
    except PageError as exc:
        pytest.fail(f"{exc}\n--- node log (tail) ---\n{docs_node.log()[-3000:]}", pytrace=False)


def test_pages_use_distinct_functions_and_queues() -> None:
    """Pages run on one node: each creates and uses its own names, so none collide or depend
    on another page having run first."""
    owner: dict[tuple[str, str], str] = {}
    clashes = []
    for path in PAGES:
        for key in set(used_names(blocks(path, page_name(path)))):
            if key in owner:
                clashes.append(f"{key[0]} {key[1]!r}: {owner[key]} and {page_name(path)}")
            owner[key] = page_name(path)
    assert not clashes, "names created by more than one page:\n" + "\n".join(clashes)


def test_every_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in PAGES[1:] if f"docs/{p.name}" not in readme]
    assert not missing, f"README.md does not link: {missing}"


# -- the runner itself ----------------------------------------------------------------------


def write_page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_runner_marks_skip_and_output(tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
        "<!-- docs: skip (starts a node) -->\n```bash\nlamina serve\n```\n\n"
        "```text\nwhatever\n```\n\n```python\nx = 1\n```\n",
    )
    found = blocks(page, "page.md")
    assert [(b.lang, b.skip, b.runs) for b in found] == [
        ("bash", "starts a node", False),
        ("text", None, False),
        ("python", None, True),
    ]
    assert found[2].line == 11


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("```console\n$ ls\n```\n", "not allowed"),
        ("```\nplain\n```\n", "not allowed"),
        ("```bash\npip install lamina\n```\n", "docs: skip"),
        ("```bash\nls && lamina serve --port 1\n```\n", "docs: skip"),
    ],
)
def test_runner_refuses_what_would_dodge_it(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PageError, match=message):
        blocks(write_page(tmp_path, text), "page.md")


def test_runner_shares_state_and_names_the_failing_block(tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
        "```bash\nexport GREETING=hi\nWHO=you\n```\n\n"
        "```python\nimport os\nseen = os.environ['GREETING']\n```\n\n"
        '```bash\ntest "$WHO" = you\n```\n\n'
        "```python\nassert seen == 'hi'\n```\n\n"
        "```bash\nfalse\necho never\n```\n",
    )
    page_blocks: list[Block] = blocks(page, "page.md")
    run = PageRun("127.0.0.1:1", tmp_path, dict(os.environ))
    with pytest.raises(PageError, match=r"page.md:20 \(bash block\) failed") as failed:
        run.run(page_blocks)
    assert "docs: line 20 failed: false" in str(failed.value)
    assert "never" not in str(failed.value).split("output:")[1]


def test_runner_substitutes_the_endpoint(tmp_path: Path) -> None:
    page = write_page(tmp_path, '```python\nurl = "http://127.0.0.1:9001/health"\n```\n')
    run = PageRun("127.0.0.1:4242", tmp_path, dict(os.environ))
    namespace_probe = tmp_path / "probe.md"
    namespace_probe.write_text(
        '```python\nassert url == "http://127.0.0.1:4242/health", url\n```\n'
    )
    run.run(blocks(page, "page.md") + blocks(namespace_probe, "probe.md"))


LINK_RE = re.compile(r"\]\((?P<target>[^)\s]+)\)")
BARE_PAGE_RE = re.compile(r"`(?P<page>[\w-]+\.md)`")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    return {slug(line.lstrip("#")) for line in lines if line.startswith("#")}


@pytest.mark.parametrize("path", PAGES, ids=page_name)
def test_links_point_to_files_that_exist(path: Path) -> None:
    broken = []
    prose = re.sub(r"`[^`\n]*`", "", path.read_text())  # links are not in inline code
    for m in LINK_RE.finditer(prose):
        target = m["target"]
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists() or (anchor and anchor not in anchors(linked)):
            broken.append(target)
    bare = [
        m["page"]
        for m in BARE_PAGE_RE.finditer(path.read_text())
        if (ROOT / "docs" / m["page"]).exists()
    ]
    assert not broken, f"{page_name(path)}: links to nothing: {broken}"
    assert not bare, f"{page_name(path)}: page names that should be links: {bare}"


def test_diagrams_are_well_formed_svg() -> None:
    """Diagrams are checked-in SVG files a browser shows without a network."""
    diagrams = sorted((ROOT / "docs").glob("*.svg"))
    assert len(diagrams) >= 3
    for svg in diagrams:
        root = ElementTree.parse(svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg", svg.name
        assert "http" not in svg.read_text().replace("http://www.w3.org/2000/svg", ""), svg.name


def test_runner_checks_marked_output(tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
        "```python\nprint('request 3f6c-77 took 12 ms')\nprint('done')\n```\n\n"
        "<!-- docs: output -->\n```text\nrequest … took … ms\ndone\n```\n\n"
        "```bash\necho one; echo two\n```\n\n"
        "<!-- docs: output -->\n```text\ntwo\none\n```\n",
    )
    with pytest.raises(PageError, match=r"page.md:18 \(text block\): the line 'one' is not in"):
        PageRun("127.0.0.1:1", tmp_path, dict(os.environ)).run(blocks(page, "page.md"))
