"""docs/ stays true: the tests docs/aws-facts.md cites exist, and every fact has a source."""

from __future__ import annotations

import re

from tests.conftest import ROOT

FACTS = (ROOT / "docs" / "aws-facts.md").read_text()


def test_every_test_the_facts_page_cites_exists() -> None:
    cited = set(re.findall(r"`(test_[a-z0-9_]+)`", FACTS))
    assert cited
    defined = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r"^def (test_[a-z0-9_]+)", path.read_text(), re.MULTILINE)
    }
    assert cited - defined == set()


def test_every_fact_row_names_a_source() -> None:
    rows = [line for line in FACTS.splitlines() if line.startswith("| ") and "---" not in line]
    facts = [row for row in rows if not row.startswith("| fact ")]
    assert len(facts) > 20
    for row in facts:
        source = row.split(" | ")[1]
        assert "https://" in source or "localstack" in source or "floci" in source, row
