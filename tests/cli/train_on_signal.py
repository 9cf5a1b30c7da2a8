"""``python tests/cli/train_on_signal.py GO ARGS...``: import, say ``ready``, wait for the file GO
to exist, then run ``precisionmed ARGS...`` through the real entry point (one-line errors, exit
code 1). Run by ``test_cli_model_dirs.py`` to start two trainings at the same moment."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import precisionmed.clinical.training  # noqa: F401 - heavy imports before the start signal
from precisionmed.cli.main import main
from precisionmed.data import load_dataset

if __name__ == "__main__":
    go, args = Path(sys.argv[1]), sys.argv[2:]
    load_dataset("gbsg2")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while not go.exists():
        time.sleep(0.005)
    sys.argv = ["precisionmed", *args]
    main()
