"""The README's export-kind table and canonical CSV reference are generated from the code
(Kind registry, canonical.CANONICAL); this fails when they drift. Fix with
`python3 -m dapaudit.ingest.reference_docs README.md`."""

from __future__ import annotations

import pytest

from conftest import ROOT
from dapaudit.ingest import REGISTRY
from dapaudit.ingest.reference_docs import BLOCKS, current_block, render, rewrite

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("block", BLOCKS)
def test_readme_block_matches_the_code(block):
    assert current_block(README, block) == render(block) + "\n", (
        "README drifted: run python3 -m dapaudit.ingest.reference_docs README.md"
    )


def test_every_real_kind_says_what_produces_it():
    for kind in REGISTRY.kinds.values():
        assert kind.description and kind.produces, kind.name
        assert f"`{kind.name}`" in README or kind.name.startswith("canonical.")


def test_rewrite_fills_an_empty_block():
    empty = "x\n<!-- export-kinds:start -->\n<!-- export-kinds:end -->\ny\n"
    assert "`graph.role_assignments`" in rewrite(empty)
