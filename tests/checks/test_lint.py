"""``paved lint``: each rule fires on its positive case and not on its negative one; it
catches everything temporalint 0.1.1 catches on the same files, and more."""

from __future__ import annotations

from pathlib import Path

import pytest

from paved import checks
from tests.checks.lint_cases import CASES, TEMPORALINT_MAP


def write(root: Path, files: dict[str, str]) -> list[Path]:
    out = []
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        out.append(p)
    return out


def expected_lines(files: dict[str, str]) -> set[tuple[str, int]]:
    return {
        (rel, n)
        for rel, text in files.items()
        for n, line in enumerate(text.splitlines(), 1)
        if "# expect" in line
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_positive_and_negative(case: str, tmp_path: Path) -> None:
    rule = case.split("-")[0]
    positive, negative = CASES[case]
    paths = write(tmp_path / "pos", positive)
    found = checks.lint_files(paths, tmp_path / "pos")
    hits = {
        (str(Path(f.path).relative_to(tmp_path / "pos")), f.line) for f in found if f.rule == rule
    }
    assert hits == expected_lines(positive), [str(f) for f in found]
    for f in found:
        if f.rule == rule:
            assert f.fix() and f.message
    neg_paths = write(tmp_path / "neg", negative)
    neg = [f for f in checks.lint_files(neg_paths, tmp_path / "neg") if f.rule == rule]
    assert neg == [], [checks.format_finding(f) for f in neg]


def test_cross_module_finding_names_the_workflow_line(tmp_path: Path) -> None:
    paths = write(tmp_path, CASES["PVL001-cross"][0])
    (finding,) = [f for f in checks.lint_files(paths, tmp_path) if f.rule == "PVL001"]
    assert finding.path.endswith("c/helpers.py")
    assert "reached from" in finding.via and "c/wf.py:" in finding.via
    text = checks.format_finding(finding)
    assert "PVL001" in text and "fix:" in text


def test_silence_on_the_workflow_line_covers_the_helper(tmp_path: Path) -> None:
    files = dict(CASES["PVL001-cross"][0])
    files["c/wf.py"] = files["c/wf.py"].replace(
        "return new_id()", "return new_id()  # paved: ignore[PVL001] ids are only logged"
    )
    paths = write(tmp_path, files)
    assert [f for f in checks.lint_files(paths, tmp_path) if f.rule == "PVL001"] == []


def test_catches_everything_temporalint_catches(tmp_path: Path) -> None:
    """temporalint 0.1.1 (all 10 rules) and paved lint on the same files."""
    from temporalint.checker import check_file
    from temporalint.rules import RULE_CODES

    theirs: set[tuple[str, int, str]] = set()
    ours: set[tuple[str, int, str]] = set()
    for case, pair in sorted(CASES.items()):
        for kind, files in zip(("pos", "neg"), pair, strict=True):
            root = tmp_path / case / kind
            paths = write(root, files)
            for p in paths:
                for d in check_file(p, set(RULE_CODES)):
                    theirs.add((str(p), d.line, d.code))
            for f in checks.lint_files(paths, root, silences=False):
                ours.add((f.path, f.line, f.rule))
    assert {code for _, _, code in theirs} == set(RULE_CODES), (
        "cases must exercise every temporalint rule"
    )
    missed = [
        (p, line, code) for p, line, code in theirs if (p, line, TEMPORALINT_MAP[code]) not in ours
    ]
    assert missed == []
    # And more: findings temporalint has no rule for, or misses across modules.
    mapped = {(p, line, TEMPORALINT_MAP[c]) for p, line, c in theirs}
    extra = ours - mapped
    assert {r for _, _, r in extra} >= {
        "PVL002",
        "PVL003",
        "PVL004",
        "PVL105",
        "PVL106",
        "PVL107",
        "PVL108",
    }
    assert any(p.endswith("helpers.py") and r == "PVL001" for p, _, r in extra)


def test_the_example_is_clean(repo_root: Path) -> None:
    findings = checks.lint_project(checks_project(repo_root))
    assert findings == [], [checks.format_finding(f) for f in findings]


def checks_project(repo_root: Path):  # type: ignore[no-untyped-def]
    from paved import specs

    return specs.Project.load(repo_root / "examples" / "imagegen")
