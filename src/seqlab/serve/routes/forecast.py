"""``POST /v1/forecast``: the next ``horizon`` steps after the recent rows a client sends.

Request: the rows as JSON records, ``{"records": [{"timestamp": "2024-02-01 00:00", "load":
10.1, ...}, ...]}`` (``null`` for a missing value), or as CSV text, ``{"csv": "date,load,...\\n
..."}``; at most ``max_forecast_rows`` rows. ``strict`` refuses gaps and missing values instead
of filling them; ``outliers`` ("refuse" or "keep") overrides the model's ``data.outliers``.
Response: ``{"forecast": [{"timestamp": "2024-02-05T00:00:00", "temp": 22.7}, ...],
"horizon", "columns", "notes"}``: one row per future step at the data's frequency, ISO 8601
timestamps, values in the data's own units; ``notes`` says what reading repaired.

The rows pass exactly the checks ``seqlab forecast`` applies to a file
(seqlab.tasks.forecasting.predictor): records are written as a CSV first, as the predictor
does with a DataFrame. Its refusals (too few rows, a missing column, a value or timestamp that
does not parse, an outlier) become 422 with its message. They name rows by line: in CSV text
that is the line of the text; for records this module rewrites "line N" as ``records[N-2]``
(line 1 is the header), and the error's ``field`` names the record and column when it can.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, Field

from seqlab.errors import SeqlabError
from seqlab.serve.calls import run_in_executor
from seqlab.serve.errors import ApiError
from seqlab.serve.limits import check_count, check_not_empty, unpaired_surrogate
from seqlab.serve.state import ServiceState

TASK = "forecasting"


def _cell(value: Any) -> Any:
    """A cell of a record: a number, a string (a timestamp; a number written as text) or null.
    One check instead of a union's, so an error names the cell, not a member of the union."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError(f"a cell holds a number, a string or null, not {type(value).__name__}")


CellValue = Annotated[Any, AfterValidator(_cell)]


class ForecastRequest(BaseModel):
    records: list[dict[str, CellValue]] | None = Field(
        None, description="the recent rows, oldest first; give records or csv"
    )
    csv: str | None = Field(None, description="the recent rows as CSV text with a header line")
    strict: bool = Field(False, description="refuse gaps and missing values instead of filling")
    outliers: Literal["refuse", "keep"] | None = Field(
        None, description="what to do with values far outside the training rows"
    )


class ForecastResponse(BaseModel):
    forecast: list[dict[str, str | float]]
    horizon: int
    columns: list[str]
    notes: list[str]


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()

    @routes.post("/v1/forecast", tags=["forecasting"], response_model=ForecastResponse)
    async def forecast(
        request: ForecastRequest,
        model: str | None = Query(None, description="a loaded forecasting model's name"),
    ) -> ForecastResponse:
        """The next horizon after the rows sent, with timestamps, in the data's units."""
        loaded = state.model_for(TASK, model)
        if (request.records is None) == (request.csv is None):
            raise ApiError(
                422,
                "InvalidArgument",
                "give the rows either as records (a list of objects) or as csv (text), not "
                f"{'both' if request.records is not None else 'neither'}",
                field="records",
            )
        field = "records" if request.records is not None else "csv"
        rows = (
            len(request.records)
            if request.records is not None
            else max(len(str(request.csv).splitlines()) - 1, 0)  # the header is no row
        )
        check_not_empty(rows, field=field, noun="row")
        broken = unpaired_surrogate(request.csv or "")
        if broken is not None:
            raise ApiError(422, "InvalidArgument", f"csv: {broken}", field="csv")
        limit = state.settings.max_forecast_rows
        check_count(rows, limit, field=field, noun="row", setting="max_forecast_rows")
        predictor = loaded.predictor

        def work() -> ForecastResponse:
            return _forecast(predictor, request, field=field)

        return await run_in_executor(state, work, field=field)

    return routes


def _forecast(predictor: Any, request: ForecastRequest, *, field: str) -> ForecastResponse:
    """Read the rows as the predictor reads a file, forecast, and answer in JSON's terms."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.csv"
        if request.records is not None:
            pd.DataFrame.from_records(request.records).to_csv(path, index=False)
        else:
            path.write_text(str(request.csv), encoding="utf-8")
        try:
            frame = predictor.task_object.series_data.read_file(
                path, name=field, strict=request.strict, outliers=request.outliers
            )
            result = predictor.forecast(frame)
        except (SeqlabError, ValueError) as error:
            raise _refused(str(error), field=field) from None
    columns = [str(column) for column in result.columns]
    rows: list[dict[str, str | float]] = []
    for timestamp, values in zip(result.index, result.to_numpy().tolist(), strict=True):
        row: dict[str, str | float] = {"timestamp": timestamp.isoformat()}
        row.update(zip(columns, values, strict=True))
        rows.append(row)
    notes = [str(note) for note in result.attrs.get("notes", [])]
    if field == "records":
        notes = [_record_lines(note) for note in notes]
    return ForecastResponse(forecast=rows, horizon=len(rows), columns=columns, notes=notes)


_AT_LINE = re.compile(r"^records:(\d+): (?:column '([^']+)')?")


def _refused(message: str, *, field: str) -> ApiError:
    """The predictor's refusal as a 422 naming the record (and column) it is about."""
    at = _AT_LINE.match(message) if field == "records" else None
    if at is not None and int(at.group(1)) >= 2:
        field = f"records[{int(at.group(1)) - 2}]"
        if at.group(2):
            field += f".{at.group(2)}"
    if field.startswith("records"):
        message = _record_lines(message)
    return ApiError(422, "InvalidArgument", message, field=field)


def _record_lines(text: str) -> str:
    """ "records:7: ..." and "line 7" as the record they are: records[5] (line 1 is the
    header the records were written under)."""

    def record(match: re.Match[str]) -> str:
        line = int(match.group(2))
        return f"records[{line - 2}]" if line >= 2 else match.group(0)

    return re.sub(r"(records:|\bline )(\d+)", record, text)
