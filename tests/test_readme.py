"""README.md says nothing it cannot back: every number in its prose is found in a committed report
under reports/ (where `make readme` took it from), bar a short list of deliberate constants; its
links resolve; it stays short."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Deliberate constants: the 95% of the intervals, and the citing line's years and arXiv numbers.
CONSTANTS = {"95", "2020", "2021", "2024", "2025", "2408.16031", "2111.12621"}
NUMBER = re.compile(r"(?<![\w.\-/])[-+±]?(\d+(?:\.\d+)?)%?(?![\w/])")


def prose(markdown: str) -> str:
    """The text a reader reads as numbers: without code blocks, inline code and link targets."""
    markdown = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    markdown = re.sub(r"`[^`]*`", " ", markdown)
    markdown = re.sub(r"\]\([^)]*\)", "]", markdown)
    return re.sub(r"<!--.*?-->", " ", markdown, flags=re.S)


def numbers(markdown: str) -> set[str]:
    return set(NUMBER.findall(prose(markdown)))


def reports_text() -> str:
    return "\n".join(
        p.read_text(errors="ignore") for p in (ROOT / "reports").rglob("*") if p.suffix in (".md", ".json")
    )


def unbacked(markdown: str, reports: str) -> list[str]:
    """The numbers of `markdown`'s prose that appear in no report (nor among the constants)."""
    found = lambda n: re.search(rf"(?<![\d.]){re.escape(n)}(?!\d)", reports) is not None
    return sorted(n for n in numbers(markdown) if n not in CONSTANTS and not found(n))


def test_every_number_in_the_readme_comes_from_a_report():
    assert unbacked((ROOT / "README.md").read_text(), reports_text()) == []


def test_a_typed_number_is_caught():
    reports = "emp: 78.63% at 46.7% saving"
    assert unbacked("EMP keeps 78.63% at 46.7% (see `run 12.5`).", reports) == []
    assert unbacked("EMP keeps 78.64% at 46.7%, about 3.2 times faster.", reports) == ["3.2", "78.64"]


def test_the_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target
    for page in (ROOT / "docs").glob("*.md"):  # every docs page is linked from the README
        assert f"(docs/{page.name})" in text or page.name == "methods.md" and "docs/methods.md" in text, page.name
