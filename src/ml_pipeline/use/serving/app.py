"""The scoring service's HTTP API (FastAPI):

- ``POST /datasets/{name}/invocations``: rows in any of MLflow's scoring bodies (bodies.py), checked by
  the batch rules, answered with ``{"predictions": [...]}``: each row's key (if the dataset declares one
  and the row has it), predicted class as declared, each class's probability, and the model version;
  ``POST /invocations`` the same for the deployment's default dataset (ML_PIPELINE_DATASET);
- ``GET /datasets``: each champion served, its version, sha256 and since when;
- ``GET /health`` (and MLflow's ``/ping``): 200 once every champion is served, else 503 and why.

Every route but the health check wants ``Authorization: Bearer <token>``, unless the deployment opened
access explicitly (server.py).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import cache

import msgspec
import pyarrow as pa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from ml_pipeline.data_in.source_table import SourceTable
from ml_pipeline.data_in.validation import BatchRejected, check_rows
from ml_pipeline.use.predict import table_keys
from ml_pipeline.use.serving.bodies import RequestRefused, Shape, request_table
from ml_pipeline.use.serving.champions import Champions, Served


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_rows: int


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(msgspec.json.encode(body), status, headers, media_type="application/json")


def refusal(status: int, problems: list[str], headers: dict | None = None) -> Response:
    """An error as MLflow's server words it (error_code, message), with each problem listed."""
    codes = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 404: "RESOURCE_DOES_NOT_EXIST", 413: "TOO_LARGE"}
    body = {
        "error_code": codes.get(status, "UNAVAILABLE"),
        "message": "; ".join(problems),
        "problems": problems,
    }
    return json_response(body, status, headers)


def create_app(
    champions: Champions, token: str | None, limits: Limits, lifespan=None, default_dataset: str = ""
) -> FastAPI:
    """The service; ``token`` None answers without one (the deployment said so). ``POST /invocations``
    scores with ``default_dataset``'s champion, where MLflow's own client posts."""
    app = FastAPI(title="ml_pipeline scoring service", docs_url=None, redoc_url=None, lifespan=lifespan)

    def authorised(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise RequestRefused(
                401,
                [
                    "send the service's token: Authorization: Bearer <token>; it is in the file that "
                    "ML_PIPELINE_SERVE_TOKEN_FILE names where the service runs (`make up` prints it)"
                ],
            )

    @app.exception_handler(RequestRefused)
    async def refused(request: Request, error: RequestRefused) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return refusal(error.status, error.problems, headers)

    @app.get("/health")
    @app.get("/ping")
    async def health() -> Response:
        ready, body = champions.health()
        return json_response(body, 200 if ready else 503)

    @app.get("/datasets", dependencies=[Depends(authorised)])
    async def datasets() -> Response:
        ready, health = champions.health()
        served = {name: served.describe() for name, served in sorted(champions.served.items())}
        return json_response({"datasets": served, **{k: v for k, v in health.items() if k != "datasets"}})

    @app.post("/invocations", dependencies=[Depends(authorised)])
    async def default_invocations(request: Request) -> Response:
        return await invocations(default_dataset, request)

    @app.post("/datasets/{name}/invocations", dependencies=[Depends(authorised)])
    async def invocations(name: str, request: Request) -> Response:
        served = champions.get(name)  # this request's model to its end, whatever is promoted meanwhile
        if served is None:
            raise RequestRefused(*_not_served(champions, name))
        body = await _body(request, limits.max_body_bytes)
        shape = Shape(served.columns, limits.max_rows)
        table = request_table(body, request.headers.get("content-type"), shape)
        return json_response(scored(served, table))

    return app


def scored(served: Served, table) -> dict:
    """The answer to a request's rows, checked by the batch rules (their problems: 400)."""
    rows = SourceTable(table, "the request")
    try:
        batch = check_rows(rows, served.columns, folds=2, test_fraction=0.5, labelled=False).batch
    except BatchRejected as rejection:
        raise RequestRefused(400, rejection.problems) from None
    labels, probabilities = served.scores(batch.features)
    key = served.columns.key
    keys = [None] * len(labels)
    if key and key in rows.table.column_names:
        try:
            keys = table_keys(rows.table, key, rows.origin).tolist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise RequestRefused(400, [f"key column {key!r}: each key must be text or a number"]) from None
    prediction = prediction_type(served.columns.classes, key)
    columns = zip(
        labels.tolist(), *probabilities.T.tolist(), [served.version] * len(labels), keys, strict=True
    )
    predictions = [prediction(*row) for row in columns]
    return {
        "predictions": predictions,
        "dataset": served.dataset,
        "model_version": served.version,
        "model_sha256": served.sha256,
    }


@cache
def prediction_type(classes: tuple, key: str | None) -> type:
    """One prediction as the answer words it: the predicted class, ``probability_<class>`` for each
    class, the model version, and the row's key when it has one (a struct: 3× faster to encode than a
    dict per row)."""
    fields = [("predicted_label", object), *((f"p{i}", float) for i in range(len(classes)))]
    fields += [("model_version", int), ("key", object, None)]
    rename = {f"p{i}": f"probability_{label}" for i, label in enumerate(classes)}
    return msgspec.defstruct("Prediction", fields, omit_defaults=True, rename={**rename, "key": key or "key"})


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, read no further than ``limit`` bytes (else 413)."""
    too_large = RequestRefused(
        413,
        [
            f"the body is larger than {limit / 2**20:g} MiB (ML_PIPELINE_SERVE_MAX_BODY_MB): send the rows "
            "in smaller requests"
        ],
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _not_served(champions: Champions, name: str) -> tuple[int, list[str]]:
    problem = champions.problems.get(name)
    if problem:
        return 503, [f"{name}: {problem}"]
    served = ", ".join(sorted(champions.served)) or "none yet"
    return 404, [
        f"no champion of a dataset {name!r} is served (served: {served}); a dataset's first run makes its "
        "first champion: `make run DATASET=<name>`"
    ]
