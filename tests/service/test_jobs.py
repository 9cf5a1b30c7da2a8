"""Background jobs: molecule generation and REINVENT optimisation queued, polled to done and
downloaded; bad objectives refused naming the component; roles, ownership and audit rows; the
per-user and queue bounds; jobs left running by a dead server failed on restart; migration 0003
up and down.

The generator is a real CharRNN (32 units) trained for 5 epochs on 260 small acyclic molecules,
as in ``tests/chem/test_reinvent.py``, served from a models directory like production.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Api

pytest.importorskip("rdkit", reason="the jobs tests need RDKit: pip install 'precisionmed[chem]'")

#: An easy objective for small chains: molecular weight of at least 150 g/mol.
#: Polling a job makes many requests: no rate limit in these tests.
UNLIMITED = {"rate_limit_per_minute": 10_000, "rate_limit_burst": 10_000}
HEAVY = "components:\n  - {type: mw, min: 150, width: 30}\n"


def train_tiny_charrnn(out: Path) -> Path:
    """A 32-unit CharRNN trained for 5 epochs on 260 small acyclic molecules, saved to ``out``."""
    from precisionmed.chem.generative.training import TrainingSmiles, train_generator
    from precisionmed.train.config import TrainConfig

    middles = ["", "O", "N", "C(=O)", "C(C)", "OC", "C(O)", "C(N)"]
    smiles = sorted({"C" * a + m + "C" * b for a in range(1, 9) for b in range(5) for m in middles})
    train_generator(
        "charrnn",
        TrainingSmiles(smiles, "test: small acyclic molecules", len(smiles)),
        out,
        hparams={"hidden_size": 32, "num_layers": 1, "dropout": 0.0},
        config=TrainConfig(max_epochs=5, batch_size=32, lr=1e-2, seed=0, progress=False),
    )
    return out


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding one tiny CharRNN generator ("charrnn")."""
    root = tmp_path_factory.mktemp("job-models")
    train_tiny_charrnn(root / "charrnn")
    return root


def wait_done(api: Api, job_id: int, headers: dict[str, str], timeout: float = 120) -> dict:
    """Poll ``GET /jobs/{id}`` until the job is done or failed; its last status."""
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        response = api.client.get(f"/jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.add(body["status"])
        assert 0.0 <= body["progress"] <= 1.0
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not finished in {timeout} s (seen {seen})")


@pytest.fixture
def api(make_app: Callable[..., Any]) -> Any:
    app = make_app(**UNLIMITED)
    yield Api(app)
    app.state.jobs.close()


def test_a_generation_job_is_polled_to_done_and_its_smiles_downloaded(api: Api) -> None:
    me = api.add_user("rita", "researcher")
    body = {"kind": "generate", "model": "charrnn", "n": 300, "temperature": 1.0, "seed": 3}
    response = api.client.post("/jobs", json=body, headers=me)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] in ("queued", "running", "done")
    assert job["params"] == {"n": 300, "temperature": 1.0, "seed": 3}
    done = wait_done(api, job["id"], me)
    assert done["status"] == "done", done["error"]
    assert done["progress"] == 1.0
    assert done["summary"]["molecules"] == 300
    result = api.client.get(f"/jobs/{job['id']}/result", headers=me)
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("chemical/x-daylight-smiles")
    lines = result.text.splitlines()
    assert len(lines) == 300
    # the same molecules as the chem library's own sampler draws with that seed (the job draws
    # them in chunks of PROGRESS_CHUNK to report progress)
    from precisionmed.chem.generative import load_generator
    from precisionmed.chem.generative.predictor import PROGRESS_CHUNK

    generator = load_generator(api.app.state.settings.models_dir / "charrnn")
    drawn = generator.sample(300, temperature=1.0, seed=3, batch_size=PROGRESS_CHUNK)
    assert lines == drawn.smiles
    assert done["summary"]["valid"] == sum(drawn.valid) > 0
    assert done["summary"]["validity"] == pytest.approx(sum(drawn.valid) / 300)
    actions = {(a, o) for _, a, o, _ in api.audit_rows()}
    assert {("create", "job"), ("read", "job"), ("read", "job-result")} <= actions


def test_an_optimisation_job_writes_the_scored_molecules_as_csv(api: Api) -> None:
    me = api.add_user("rita", "researcher")
    body = {"kind": "optimize", "model": "charrnn", "objective": HEAVY, "steps": 3,
            "batch_size": 16, "seed": 0}  # fmt: skip
    response = api.client.post("/jobs", json=body, headers=me)
    assert response.status_code == 202, response.text
    done = wait_done(api, response.json()["id"], me)
    assert done["status"] == "done", done["error"]
    assert done["summary"]["steps"] == 3
    result = api.client.get(f"/jobs/{done['id']}/result", headers=me)
    assert result.headers["content-type"].startswith("text/csv")
    header, *rows = result.text.splitlines()
    assert header == "rank,smiles,score,step,mw"
    assert len(rows) == done["summary"]["molecules"] > 0
    scores = [float(r.split(",")[2]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(done["summary"]["best_score"], abs=1e-5)


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        ("components:\n  - {type: qedx}\n", "component 1: unknown type 'qedx'. Did you mean: qed?"),
        ("components:\n  - {type: qed}\n  - {type: mw, window: [1]}\n", "component 2 (mw)"),
        ("components: [", "objective: not valid YAML"),
        (
            "components:\n  - {type: property, model: /etc}\n",
            "component 1 (property): model: no served molecular-property named '/etc'",
        ),
        ("components:\n  - {type: affinity, model: x, protein: /etc/passwd}\n", "affinity"),
    ],
)
def test_a_bad_objective_is_refused_naming_the_component(
    api: Api, objective: str, message: str
) -> None:
    me = api.add_user("rita", "researcher")
    body = {"kind": "optimize", "model": "charrnn", "objective": objective, "steps": 1}
    response = api.client.post("/jobs", json=body, headers=me)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert api.client.get("/jobs", headers=me).json() == []


def test_bad_job_requests_get_a_4xx_naming_the_field(api: Api) -> None:
    me = api.add_user("rita", "researcher")
    unknown = api.client.post("/jobs", json={"kind": "generate", "model": "nope"}, headers=me)
    assert unknown.status_code == 404
    assert "no served molecule-generator named 'nope'; served: charrnn" in unknown.text
    negative = {"kind": "generate", "model": "charrnn", "temperature": -1}
    response = api.client.post("/jobs", json=negative, headers=me)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "temperature"
    kind = api.client.post("/jobs", json={"kind": "dock", "model": "charrnn"}, headers=me)
    assert kind.status_code == 422


def test_jobs_need_a_token_and_a_researcher_and_each_sees_only_their_own(api: Api) -> None:
    assert api.client.get("/jobs").status_code == 401
    assert api.client.post("/jobs", json={"kind": "generate", "model": "x"}).status_code == 401
    clinician = api.add_user("carl", "clinician")
    body = {"kind": "generate", "model": "charrnn", "n": 5, "seed": 0}
    refused = api.client.post("/jobs", json=body, headers=clinician)
    assert refused.status_code == 403
    assert ("denied", "endpoint") in {(a, o) for _, a, o, _ in api.audit_rows()}
    rita, sam = api.add_user("rita", "researcher"), api.add_user("sam", "researcher")
    admin = api.add_user("ada", "admin")
    job_id = api.client.post("/jobs", json=body, headers=rita).json()["id"]
    wait_done(api, job_id, rita)
    assert api.client.get(f"/jobs/{job_id}", headers=sam).status_code == 404
    assert api.client.get(f"/jobs/{job_id}/result", headers=sam).status_code == 404
    assert api.client.get("/jobs", headers=sam).json() == []
    assert [j["id"] for j in api.client.get("/jobs", headers=admin).json()] == [job_id]
    assert api.client.get(f"/jobs/{job_id}/result", headers=admin).status_code == 200
    assert (3, "denied", "job", job_id) in api.audit_rows()


def _insert_job(
    api: Api, owner: int, status: str, runner: str | None = None, model: str = "charrnn"
) -> int:
    from precisionmed.service.models import Job

    with api.app.state.sessions() as session:
        job = Job(owner_id=owner, kind="generate", model_name=model, status=status,
                  params={"n": 5, "temperature": 1.0, "seed": 0}, progress=0.0,
                  runner=runner)  # fmt: skip
        session.add(job)
        session.commit()
        return job.id


def test_a_users_second_job_waits_while_their_first_runs(api: Api) -> None:
    api.add_user("rita", "researcher")
    api.add_user("sam", "researcher")
    _insert_job(api, 1, "running", runner=f"{socket.gethostname()}:1")
    waiting = _insert_job(api, 1, "queued")
    other = _insert_job(api, 2, "queued")
    runner = api.app.state.jobs
    assert runner._claim() == other
    assert runner._claim() is None  # rita's next job waits for her running one
    from precisionmed.service.models import Job

    with api.app.state.sessions() as session:
        assert session.get(Job, waiting).status == "queued"


def test_a_full_queue_refuses_a_job_with_429(make_app: Callable[..., Any]) -> None:
    api = Api(make_app(job_queue_limit=2, **UNLIMITED))
    me = api.add_user("rita", "researcher")
    _insert_job(api, 1, "queued")
    _insert_job(api, 1, "queued")
    body = {"kind": "generate", "model": "charrnn", "n": 5}
    response = api.client.post("/jobs", json=body, headers=me)
    assert response.status_code == 429
    assert "the queue is full (2 jobs queued or running, the limit is 2)" in response.text
    api.app.state.jobs.close()


def test_jobs_left_running_by_a_dead_server_are_failed_on_restart(
    make_app: Callable[..., Any],
) -> None:
    from precisionmed.service.jobs import INTERRUPTED

    first = Api(make_app(**UNLIMITED))
    me = first.add_user("rita", "researcher")
    dead = _insert_job(first, 1, "running", runner=f"{socket.gethostname()}:{2**22 + 7}")
    queued = _insert_job(first, 1, "queued")
    first.app.state.jobs.close()
    second = Api(make_app(**UNLIMITED))  # the restarted server, on the same database
    body = wait_done(second, dead, me, timeout=5)
    assert body["status"] == "failed"
    assert body["error"] == INTERRUPTED
    assert second.client.get(f"/jobs/{dead}/result", headers=me).status_code == 409
    # the job still queued is taken by the new server
    assert wait_done(second, queued, me)["status"] == "done"
    second.app.state.jobs.close()


def test_migration_0003_goes_down_and_up_again(database_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from precisionmed.service.db import alembic_config, current_revision, make_engine

    command.downgrade(alembic_config(database_url), "0002")
    engine = make_engine(database_url)
    try:
        assert "jobs" not in inspect(engine).get_table_names()
        command.upgrade(alembic_config(database_url), "head")
        assert current_revision(database_url) == "0003"
        assert "jobs" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_generator_directory_loads_with_precisionmed_load_in_a_fresh_process(
    models_dir: Path,
) -> None:
    """The service reaches generators only through ``precisionmed.load``: the chem pillar
    registers the kind itself (PREDICTOR_MODULES), with nothing imported before."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys, precisionmed\n"
        "p = precisionmed.load(sys.argv[1])\n"
        "records = p.predict(4)\n"
        "print(json.dumps([p.kind, p.model_name, [r.prediction for r in records],"
        " p.input_spec.kind]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(models_dir / "charrnn")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    kind, name, smiles, spec = json.loads(done.stdout)
    assert (kind, name, spec) == ("molecule-generator", "charrnn generator", "molecule")
    assert len(smiles) == 4


def test_the_generators_optimize_reports_each_step_and_sample_each_chunk(
    models_dir: Path, tmp_path: Path
) -> None:
    """The progress hooks the jobs rely on (added to the chem pillar for them)."""
    import precisionmed
    from precisionmed.chem.generative.predictor import PROGRESS_CHUNK

    generator = precisionmed.load(models_dir / "charrnn")
    steps: list[dict[str, float]] = []
    objective = generator.objective({"components": [{"type": "mw", "min": 150, "width": 30}]})
    result = generator.optimize(objective, tmp_path / "m.csv", steps=3, batch_size=16,
                                on_step=steps.append)  # fmt: skip
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert steps == result.history
    assert (tmp_path / "m.csv").read_text().startswith("rank,smiles,score,step,mw")
    drawn: list[int] = []
    generator.sample(PROGRESS_CHUNK + 10, seed=0, on_progress=drawn.append)
    assert drawn == [PROGRESS_CHUNK, PROGRESS_CHUNK + 10]


def test_a_job_whose_generator_is_no_longer_served_fails_with_the_reason(api: Api) -> None:
    me = api.add_user("rita", "researcher")
    job_id = _insert_job(api, 1, "queued", model="retired")
    api.app.state.jobs.notify()
    body = wait_done(api, job_id, me)
    assert body["status"] == "failed"
    assert body["error"] == "model: no served molecule-generator named 'retired'; served: charrnn"
    result = api.client.get(f"/jobs/{job_id}/result", headers=me)
    assert result.status_code == 409
    assert result.json()["detail"] == f"job {job_id} is failed: {body['error']}"


@pytest.mark.slow
def test_a_job_running_when_the_server_is_sigkilled_is_failed_after_the_restart(
    tmp_path: Path, database_url: str, models_dir: Path
) -> None:
    """``precisionmed serve`` as a real subprocess, SIGKILLed mid-job, then started again."""
    import signal

    import httpx

    from precisionmed.service.accounts import add_user
    from precisionmed.service.db import make_engine, session_factory, upgrade_database
    from precisionmed.service.jobs import INTERRUPTED
    from tests.service.conftest import PASSWORD
    from tests.service.test_durability import _free_port, _serve, _token, _wait_healthy

    upgrade_database(database_url)
    engine = make_engine(database_url)
    with session_factory(engine)() as session:
        add_user(session, "rita", "researcher", PASSWORD)
    engine.dispose()
    port = _free_port()
    base, data_dir = f"http://127.0.0.1:{port}", tmp_path / "data"
    server = _serve(port, data_dir, database_url, models_dir, tmp_path / "serve-1.log")
    try:
        _wait_healthy(base, server)
        me = _token(base, "rita", PASSWORD)
        big = {"kind": "generate", "model": "charrnn", "n": 100_000, "seed": 0}
        job_id = httpx.post(f"{base}/jobs", json=big, headers=me, timeout=30).json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = httpx.get(f"{base}/jobs/{job_id}", headers=me, timeout=10).json()
            if job["status"] == "running" and job["progress"] > 0:
                break
            time.sleep(0.1)
        assert job["status"] == "running", job
        server.send_signal(signal.SIGKILL)
        assert server.wait(timeout=10) == -signal.SIGKILL

        server = _serve(port, data_dir, database_url, models_dir, tmp_path / "serve-2.log")
        _wait_healthy(base, server)
        me = _token(base, "rita", PASSWORD)
        job = httpx.get(f"{base}/jobs/{job_id}", headers=me, timeout=10).json()
        assert (job["status"], job["error"]) == ("failed", INTERRUPTED)
        small = {"kind": "generate", "model": "charrnn", "n": 20, "seed": 0}
        again = httpx.post(f"{base}/jobs", json=small, headers=me, timeout=30).json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = httpx.get(f"{base}/jobs/{again}", headers=me, timeout=10).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "done", job
        result = httpx.get(f"{base}/jobs/{again}/result", headers=me, timeout=10)
        assert len(result.text.splitlines()) == 20
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
