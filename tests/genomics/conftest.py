"""Shared set-up of the genomics tests: pysam is required (the ``genomics`` extra)."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "pysam", reason="the genomics tests need pysam: pip install 'precisionmed[genomics]'"
)
