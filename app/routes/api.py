"""REST: the cells and their options, the presets, a whole trace as JSON or CSV, a run as a PyTorch script
(and an uploaded model's weights file beside it), the share links."""

from __future__ import annotations

import asyncio
import math
from typing import Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from .. import data, engine, ratelimit, script
from ..presets import ATTENTION_LESSONS, HIGHWAY_LESSONS, PRESETS
from ..schemas import (
    ADDING_FORMS,
    INITS,
    JACOBIAN_MODES,
    LOSSES,
    OPTIMIZERS,
    TASKS,
    AttentionConfig,
    AttentionLesson,
    AttentionResponse,
    AttentionTrained,
    AttentionTrainRequest,
    CellsResponse,
    DataTable,
    HighwayConfig,
    HighwayLesson,
    HighwayResponse,
    HighwayTrained,
    HighwayTrainRequest,
    Limit,
    Preset,
    RunConfig,
    Share,
    TraceResponse,
    TrainSettings,
    UploadedWeights,
    cell_infos,
    http_error,
    settings_limits,
)
from ..share import share_info

router = APIRouter(prefix="/api", tags=["api"])


def rate_limited(request: Request) -> JSONResponse | None:
    """429 when the client's address has asked for too many computations (the REST side's bucket)."""
    settings = request.app.state.settings
    wait = request.app.state.trace_limiter.take(request.client.host if request.client else "")
    if wait is None:
        return None
    msg = ratelimit.message(settings.compute_rate, settings.compute_burst, wait)
    return JSONResponse(
        status_code=429,
        content=http_error("rate_limited", msg, ["body"]),
        headers={"Retry-After": str(math.ceil(wait))},
    )


def unprocessable(field: str, message: str) -> JSONResponse:
    """422 for a value in the body that the engine or a parser refused, naming its field."""
    return JSONResponse(status_code=422, content=http_error("value_error", message, ["body", field], field))


@router.get("/cells", response_model=CellsResponse)
def cells(request: Request) -> CellsResponse:
    limits = settings_limits(request.app.state.settings)
    return CellsResponse(
        cells=cell_infos(),
        options={
            "init": list(INITS),
            "task": list(TASKS),
            "loss": list(LOSSES),
            "device": list(request.app.state.devices),
            "adding_form": list(ADDING_FORMS),
            "jacobian": list(JACOBIAN_MODES),
            "optimizer": list(OPTIMIZERS),
        },
        limits={name: Limit(min=lo, max=hi) for name, (lo, hi) in limits.items()},
        defaults=RunConfig(),
        train_defaults=TrainSettings(),
    )


@router.get("/presets", response_model=list[Preset])
def presets() -> list[Preset]:
    return PRESETS


@router.get("/share", response_model=Share)
def share(request: Request) -> Share:
    """The addresses students on the same network can open; the port the request came in on."""
    settings = request.app.state.settings
    return Share(**share_info(settings.host, request.url.port or settings.port))


@router.post(
    "/trace",
    response_model=TraceResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The trace; CSV with ?format=csv"}},
)
async def trace(
    config: RunConfig,
    request: Request,
    format: Literal["json", "csv"] = Query("json", description="json or csv"),
) -> Response:
    settings = request.app.state.settings
    refusal = rate_limited(request)
    if refusal is not None:
        return refusal
    executor = getattr(request.app.state, "executor", None)
    loop = asyncio.get_running_loop()
    try:
        run = await engine.admitted_run(config, settings.memory_budget_mb * 2**20, executor)
    except engine.MemoryFull as err:
        return JSONResponse(
            status_code=503, content=http_error("busy", str(err), ["body"]), headers={"Retry-After": "10"}
        )
    except engine.EngineError as err:
        return unprocessable(err.field or "config", str(err))
    if format == "csv":
        body = await loop.run_in_executor(executor, engine.trace_csv, run)
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="gateflow-{run.run_id}.csv"'},
        )
    body = await loop.run_in_executor(executor, engine.trace_json, run)
    return Response(body, media_type="application/json")


async def _computed(request: Request, compute, *args) -> Response:
    """A side panel's answer: rate-limited like a trace, computed on the compute pool, JSON; 422 naming
    the field the engine refused."""
    refusal = rate_limited(request)
    if refusal is not None:
        return refusal
    executor = getattr(request.app.state, "executor", None)
    try:
        body = await asyncio.get_running_loop().run_in_executor(executor, compute, *args)
    except engine.EngineError as err:
        return unprocessable(err.field or "config", str(err))
    return Response(body, media_type="application/json")


@router.get("/highway/lessons", response_model=list[HighwayLesson])
def highway_lessons() -> list[HighwayLesson]:
    """The highway panel's ready-made settings, each with what it shows in words."""
    return HIGHWAY_LESSONS


@router.post("/highway", response_model=HighwayResponse)
async def highway(config: HighwayConfig, request: Request) -> Response:
    """A highway stack over depth beside a plain stack of the same width and H weights: every layer's
    output, H and transform gate, and ||dL/dy_l|| down to the input (models/highway.py)."""
    return await _computed(request, engine.highway_json, config)


@router.get("/attention/lessons", response_model=list[AttentionLesson])
def attention_lessons() -> list[AttentionLesson]:
    """The attention panel's ready-made settings, each with what it shows in words."""
    return ATTENTION_LESSONS


@router.post("/attention", response_model=AttentionResponse)
async def attention(config: AttentionConfig, request: Request) -> Response:
    """One layer of causal self-attention and an untrained recurrent cell of the same width on the same
    input and loss: the attention weights of every step over the earlier ones, and ||dL/dx_t|| of both
    (models/attention.py)."""
    return await _computed(request, engine.attention_json, config)


@router.post("/attention/train", response_model=AttentionTrained)
async def attention_train(body: AttentionTrainRequest, request: Request) -> Response:
    """The attention layer and the config's recurrent cell trained side by side on the adding problem
    (the same batches), then both on one held-out sequence: the trained weights over the marked steps,
    ||dL/dx_t|| of both, and the training's losses."""
    return await _trained(request, engine.attention_train_json, body.config, body.training)


@router.post("/highway/train", response_model=HighwayTrained)
async def highway_train(body: HighwayTrainRequest, request: Request) -> Response:
    """Both stacks trained on the same batches of a random teacher's task, y* = tanh(A x), each with its
    own weights, then traced on the panel's input: ||dL/dy_l||, the carry gates, and the losses."""
    return await _trained(request, engine.highway_train_json, body.config, body.training)


async def _trained(request: Request, train, *args) -> Response:
    """A side panel's training: rate-limited, one of the server's training slots (503 when all are busy),
    the training pool at a lowered priority, its work bounded by the engine (422 on training.steps)."""
    refusal = rate_limited(request)
    if refusal is not None:
        return refusal
    slots = request.app.state.train_slots
    if not slots.take():
        return JSONResponse(
            status_code=503,
            content=http_error("busy", f"busy: {slots.size} trainings run already; try again soon", ["body"]),
            headers={"Retry-After": "10"},
        )
    executor = getattr(request.app.state, "train_executor", None)
    try:
        answer = await asyncio.get_running_loop().run_in_executor(executor, train, *args)
    except engine.EngineError as err:
        return unprocessable(err.field or "config", str(err))
    finally:
        slots.give()
    return Response(answer, media_type="application/json")


@router.post(
    "/script",
    response_class=Response,
    responses={200: {"content": {"text/x-python": {}}, "description": "A plain PyTorch script of the run"}},
)
def run_script(config: RunConfig) -> Response:
    """The run as a short script that needs torch alone: it draws the same weights and input from the
    seed (a run on an uploaded model: loads its weights from the file GET /api/weights/{digest} serves,
    kept beside the script), backpropagates with retain_grad and prints the norms and decay rates the
    page shows."""
    name = f"gateflow-{'-'.join(config.cells)}-T{config.steps}.py"
    return Response(
        script.render(config),
        media_type="text/x-python",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


WEIGHTS_BODY = {
    "required": True,
    "description": "A safetensors file, or a state dict saved with torch.save (read with weights_only=True)",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


@router.post("/weights", response_model=UploadedWeights, openapi_extra={"requestBody": WEIGHTS_BODY})
async def upload_weights(
    request: Request,
    filename: str = Query("model", min_length=1, max_length=200, description="the file's name, for the page"),
    nonlinearity: Literal["tanh", "relu"] = Query(
        "tanh", description="a plain RNN's nonlinearity, which its weights cannot tell"
    ),
) -> Response:
    """Your trained torch.nn.RNN / LSTM / GRU: its cell, sizes, layers and direction read from the
    tensor names and shapes. Never unpickles an object; a wrong file gets 422 naming what is wrong."""
    settings = request.app.state.settings
    refusal = rate_limited(request)
    if refusal is not None:
        return refusal
    data = await request.body()
    executor = getattr(request.app.state, "executor", None)
    loop = asyncio.get_running_loop()
    try:
        info = await loop.run_in_executor(
            executor, engine.upload_weights, data, filename, nonlinearity, settings
        )
    except engine.EngineError as err:
        return unprocessable(err.field or "weights", str(err))
    return JSONResponse(UploadedWeights(**info).model_dump(mode="json"))


WEIGHTS_FILE_RESPONSES = {
    200: {
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The uploaded model as a state dict saved with torch.save: torch.nn's names, float32, "
        "and readout.weight / readout.bias when the file had a readout; the file POST /api/script's "
        "script loads from beside itself",
    },
}


@router.get("/weights/{digest}", response_class=Response, responses=WEIGHTS_FILE_RESPONSES)
def download_weights(
    digest: str = Path(pattern=r"^[0-9a-f]{64}$", description="the digest POST /api/weights answered"),
) -> Response:
    """The weights file an exported script of a run on this uploaded model loads (keep the two side by
    side): its plain state dict, read back with ``torch.load(path, weights_only=True)``. A digest this
    server does not hold (it restarted, or keeps newer uploads) is 422 on ``weights``, as in a run."""
    try:
        body = engine.uploaded_file(digest)
    except engine.EngineError as err:
        return JSONResponse(
            status_code=422, content=http_error("value_error", str(err), ["path", "digest"], "weights")
        )
    name = script.weights_filename(digest)
    return Response(
        body,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


DATA_BODY = {
    "required": True,
    "description": "A table of numbers: one row per step, one column per input (CSV, or tab-, semicolon- or "
    "space-separated); an optional header row names the columns",
    "content": {"text/csv": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}},
}


@router.post("/data", response_model=DataTable, openapi_extra={"requestBody": DATA_BODY})
async def read_data(request: Request) -> Response:
    """Your data as the sequence task's input: ``values`` and ``columns`` for a RunConfig with
    task "sequence". 422 names the row and column of what is wrong."""
    settings = request.app.state.settings
    body = await request.body()
    try:
        table = data.parse_table(body.decode("utf-8-sig"), settings.max_seq_len + 1)
    except UnicodeDecodeError as err:
        return unprocessable("data", f"data: the file is not UTF-8 text (byte {err.start})")
    except data.DataError as err:
        return unprocessable("data", str(err))
    return JSONResponse(DataTable(**table).model_dump(mode="json"))
