"""Write NHEFS's complete cases (weight change 1971-82 recorded) as a CSV, for the demo's
treatment recommender: ``python examples/cases/nhefs_complete_cases.py OUT.csv``.

NHEFS comes from the catalog (the data mirror or its canonical URL, checksum verified); the 63
participants lost to follow-up have no outcome and are left out, as in Hernán & Robins, *Causal
Inference: What If*, chapter 12 (1,566 rows). The treatment column ``qsmk`` is written as
"kept smoking" / "quit smoking".
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from precisionmed.data import fetch_file, get_dataset


def main(out: str) -> None:
    table = pd.read_csv(fetch_file(get_dataset("nhefs").files[0]))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    table = table.dropna(subset=["wt82_71"])
    # the arms by name, so that the report says "quit smoking" rather than "1"
    table["qsmk"] = table["qsmk"].map({0: "kept smoking", 1: "quit smoking"})
    table.to_csv(out, index=False)


if __name__ == "__main__":
    main(sys.argv[1])
