"""The clinical classifiers need no scikit-survival (GPL-3): with it unimportable, svm / rf /
gbm / dnn train and predict, and a survival model is a one-line MissingExtraError."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys

    class NoSksurv:  # as if scikit-survival were not installed
        def find_spec(self, name, path=None, target=None):
            if name == "sksurv" or name.startswith("sksurv."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, NoSksurv())
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from precisionmed.clinical import make_pipeline
    from precisionmed.clinical.models import make_model
    from precisionmed.data import load_dataset
    from precisionmed.errors import MissingExtraError

    data = load_dataset("breast-cancer-wisconsin")
    X_tr, X_te, y_tr, y_te = train_test_split(
        data.X, data.y, test_size=0.3, random_state=0, stratify=data.y
    )
    for name in ("svm", "rf", "gbm", "dnn"):
        pipe = make_pipeline(name, data.feature_types).fit(X_tr, y_tr)
        auc = roc_auc_score(y_te, pipe.predict_proba(X_te)[:, 1])
        assert auc > 0.95, (name, auc)
    try:
        make_model("coxph")
    except MissingExtraError as exc:
        print("survival:", exc)
    assert "sksurv" not in sys.modules
    print("ok")
    """
)


def test_classifiers_work_without_scikit_survival(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(  # noqa: S603  (our own interpreter on our own script)
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[-1] == "ok"
    assert lines[-2] == (
        "survival: 'sksurv' is required for this feature: pip install 'precisionmed[clinical]'"
    )
