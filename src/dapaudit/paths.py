"""Where dapaudit finds the files that ship beside the package: templates, sample data."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Editable installs (the documented way) run from the source tree: src/dapaudit -> repo root.
PROJECT_DIR = PACKAGE_DIR.parent.parent
TEMPLATES_DIR = PROJECT_DIR / "report_templates"
SAMPLE_DATA_DIR = PROJECT_DIR / "sample_data"
RULES_DIR = PACKAGE_DIR / "rules"
REFERENCE_DIR = PACKAGE_DIR / "reference"
