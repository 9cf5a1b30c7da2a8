"""Authentication and authorisation: tokens, roles, disabled users, rate limit, safe settings."""

from __future__ import annotations

import pytest

from precisionmed.errors import ConfigError
from tests.service.conftest import PASSWORD, SECRET, Api

PUBLIC = {"/health", "/auth/token"}  # the token endpoint is how a token is obtained


def test_every_endpoint_but_health_refuses_a_request_without_a_valid_token(api: Api) -> None:
    paths = {p: ops for p, ops in api.app.openapi()["paths"].items() if p not in PUBLIC}
    assert {"/cases", "/cases/{case_id}", "/models", "/metrics", "/users"} <= set(paths)
    for template, operations in paths.items():
        path = template.replace("{case_id}", "1").replace("{username}", "someone")
        for method in operations:
            for headers in ({}, {"Authorization": "Bearer not-a-token"}):
                response = api.client.request(method, path, headers=headers)
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["WWW-Authenticate"] == "Bearer"
    assert api.client.get("/health").json()["status"] == "ok"


def test_an_expired_token_and_one_signed_with_another_key_are_refused(api: Api) -> None:
    from precisionmed.service.security import create_token

    api.add_user("doc", "clinician")
    expired = create_token("doc", "clinician", SECRET, expire_minutes=-1)
    forged = create_token("doc", "clinician", "another-key-" + "x" * 32, expire_minutes=5)
    for token in (expired, forged):
        response = api.client.get("/cases", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


def test_the_password_flow_issues_a_token_that_expires_as_configured(make_app) -> None:
    import jwt

    api = Api(make_app(token_expire_minutes=7))
    api.add_user("doc", "clinician")
    response = api.client.post("/auth/token", data={"username": "doc", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7 * 60
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 7 * 60
    assert claims["sub"] == "doc"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert api.client.get("/cases", headers=headers).status_code == 200


def test_a_wrong_password_gets_401_and_an_audit_row(api: Api) -> None:
    api.add_user("doc", "clinician")
    response = api.client.post("/auth/token", data={"username": "doc", "password": "wrong-one"})
    assert response.status_code == 401
    assert (1, "login-failed", "user", 1) in api.audit_rows()


def test_wrong_roles_are_refused_with_403_and_audited(api: Api) -> None:
    researcher = api.add_user("res", "researcher")
    clinician = api.add_user("doc", "clinician")
    response = api.client.post(
        "/cases", headers=researcher, files={"file": ("r.json", b'{"age": 50}', "text/plain")}
    )
    assert response.status_code == 403
    assert "clinician or admin" in response.json()["detail"]
    assert api.client.get("/users", headers=clinician).status_code == 403
    assert api.client.get("/metrics", headers=researcher).status_code == 403
    denied = [row for row in api.audit_rows() if row[1] == "denied"]
    assert [row[0] for row in denied] == [1, 2, 1]


def test_a_disabled_users_token_stops_working_at_once(api: Api) -> None:
    admin = api.add_user("boss", "admin")
    doc = api.add_user("doc", "clinician")
    assert api.client.get("/cases", headers=doc).status_code == 200
    assert api.client.post("/users/doc/disable", headers=admin).status_code == 200
    assert api.client.get("/cases", headers=doc).status_code == 401
    response = api.client.post("/auth/token", data={"username": "doc", "password": PASSWORD})
    assert response.status_code == 401
    assert "disabled" in response.json()["detail"]


def test_an_admin_adds_a_user_whose_generated_password_signs_in(api: Api) -> None:
    admin = api.add_user("boss", "admin")
    response = api.client.post(
        "/users", headers=admin, json={"username": "newdoc", "role": "clinician"}
    )
    assert response.status_code == 201
    body = response.json()
    assert "password_hash" not in body
    api.sign_in("newdoc", body["password"])
    again = api.client.post("/users", headers=admin, json={"username": "newdoc", "role": "admin"})
    assert again.status_code == 409


def test_the_rate_limit_answers_429_with_retry_after(make_app) -> None:
    api = Api(make_app(rate_limit_burst=3, rate_limit_per_minute=1))
    doc = api.add_user("doc", "clinician")
    codes = [api.client.get("/models", headers=doc).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    response = api.client.get("/models", headers=doc)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    other = api.add_user("res", "researcher")  # another user has a bucket of their own
    assert api.client.get("/models", headers=other).status_code == 200


def test_the_token_bucket_refills_at_its_rate() -> None:
    from precisionmed.service.ratelimit import TokenBucketLimiter

    now = [0.0]
    limiter = TokenBucketLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.acquire("u") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("u") == pytest.approx(1.0)
    now[0] = 1.0
    assert limiter.acquire("u") == 0.0


@pytest.mark.parametrize("secret", ["changethis", "short-key"])
def test_unsafe_secret_keys_are_refused(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from precisionmed.service.config import load_service_settings

    monkeypatch.setenv("PRECISIONMED_SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="PRECISIONMED_SECRET_KEY"):
        load_service_settings()


def test_passwords_are_stored_as_argon2_hashes(api: Api) -> None:
    from sqlalchemy import select

    from precisionmed.service.models import User

    api.add_user("doc", "clinician")
    with api.app.state.sessions() as session:
        stored = session.scalar(select(User.password_hash))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_a_user_replaces_the_one_time_password(api: Api) -> None:
    headers = api.add_user("admin", "admin")
    url = "/users/me/password"
    wrong = {"current_password": "not it", "new_password": "a new long password"}
    assert api.client.post(url, headers=headers, json=wrong).status_code == 403
    short = {"current_password": PASSWORD, "new_password": "short"}
    assert api.client.post(url, headers=headers, json=short).status_code == 422
    body = {"current_password": PASSWORD, "new_password": "a new long password"}
    assert api.client.post(url, headers=headers, json=body).status_code == 204
    api.sign_in("admin", "a new long password")
    old = api.client.post("/auth/token", data={"username": "admin", "password": PASSWORD})
    assert old.status_code == 401
