"""Heavy libraries load only where used: listing models and the CLI's help import none."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "lightning", "sklearn", "pandas", "matplotlib")


@pytest.mark.parametrize(
    "statement",
    [
        "import precisionmed.clinical.models as m; m.list_models()",
        "import precisionmed.cli.main",
        "import precisionmed.evaluation",
        "from precisionmed.train import TrainConfig; TrainConfig.build(monitor='val_auc')",
    ],
)
def test_light_modules_do_not_import_heavy_libraries(statement: str) -> None:
    code = f"{statement}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == ""


def test_the_clinical_models_command_imports_no_heavy_library() -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom precisionmed.cli.main import app\n"
        "result = CliRunner().invoke(app, ['clinical', 'models'])\n"
        "assert result.exit_code == 0, result.output\nassert 'deepsurv' in result.output\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip().splitlines()[-1:] in ([], [""])
