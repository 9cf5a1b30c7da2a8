"""Shared set-up of the chem tests: RDKit is required (the ``chem`` extra)."""

from __future__ import annotations

import pytest

pytest.importorskip("rdkit", reason="the chem tests need RDKit: pip install 'precisionmed[chem]'")
