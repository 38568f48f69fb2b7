"""The demo gateway behind the sidecar in `make demo`: a small FastAPI app served by uvicorn.

Routes (the reference gateway's shape):
  POST /token      a user name, as JSON {"username": "alice"} or as a form (username=alice):
                   200 with an HS256 JWT whose `sub` is the user, valid for one hour. There is no
                   password: this is a demo.
  POST /jobs       requires `Authorization: Bearer <token>`; an optional JSON body
                   {"task": "...", "payload": "..."}: 201 with the job (kept in memory), Location set.
  GET  /jobs/{id}  the job, or 404.
  GET  /health     {"status": "ok"}.

The HS256 secret is read once, at start, from the file named by DEMO_JWT_SECRET_FILE; trailing
newlines are not part of it (as for the sidecar's SIDECAR_JWT_HS256_SECRET_FILE, which holds the
same secret so that the sidecar can limit by `jwt:sub`).

Run: DEMO_JWT_SECRET_FILE=secret uvicorn app:app --app-dir demo/gateway --host 127.0.0.1 --port 8000
"""
import json
import os
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

ALGORITHM = "HS256"
TOKEN_LIFETIME = timedelta(hours=1)


def read_secret() -> bytes:
    path = os.environ.get("DEMO_JWT_SECRET_FILE")
    if not path:
        raise RuntimeError("DEMO_JWT_SECRET_FILE must name a file holding the HS256 secret")
    with open(path, "rb") as secret_file:
        secret = secret_file.read().rstrip(b"\r\n")
    if not secret:
        raise RuntimeError(f"{path}: the HS256 secret is empty")
    return secret


SECRET = read_secret()
JOBS: dict[str, dict] = {}

app = FastAPI(title="sidecar demo gateway")
bearer = HTTPBearer(auto_error=False)


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")


class JobRequest(BaseModel):
    task: str = Field(default="demo", max_length=200)
    payload: str = ""


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def current_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The `sub` of the request's verified bearer token; 401 without one."""
    if credentials is None:
        raise unauthorized("a bearer token is required (POST /token)")
    try:
        claims = jwt.decode(
            credentials.credentials, SECRET, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.InvalidTokenError as error:
        raise unauthorized(f"invalid token: {error}") from None
    return claims["sub"]


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/token")
async def issue_token(request: Request) -> dict:
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            data = await request.json()
        else:
            data = dict(await request.form())
        user = TokenRequest.model_validate(data).username
    except json.JSONDecodeError:
        raise HTTPException(status_code=400, detail="the body is not valid JSON") from None
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    now = datetime.now(timezone.utc)
    token = jwt.encode({"sub": user, "iat": now, "exp": now + TOKEN_LIFETIME}, SECRET, algorithm=ALGORITHM)
    return {"access_token": token, "token_type": "bearer", "expires_in": int(TOKEN_LIFETIME.total_seconds())}


@app.post("/jobs", status_code=201)
def create_job(
    user: Annotated[str, Depends(current_user)],
    request: Request,
    response: Response,
    job: JobRequest | None = None,
) -> dict:
    job = job or JobRequest()
    record = {
        "id": uuid.uuid4().hex,
        "owner": user,
        "task": job.task,
        "payload_bytes": len(job.payload.encode()),
        "status": "queued",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "request_id": request.headers.get("x-request-id"),
    }
    JOBS[record["id"]] = record
    response.headers["Location"] = f"/jobs/{record['id']}"
    return record


@app.get("/jobs/{job_id}")
def get_job(job_id: str) -> dict:
    if job_id not in JOBS:
        raise HTTPException(status_code=404, detail="no such job")
    return JOBS[job_id]
