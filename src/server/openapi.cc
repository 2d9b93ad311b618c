// The OpenAPI 3 description of the REST API (docs/ui.md has the same in prose).

#include <string>

#include "server/api.h"

namespace sluice::server {

std::string OpenApiJson() {
  return R"json({
  "openapi": "3.0.3",
  "info": {"title": "sluice", "version": "1", "description": "Pipelines, runs, task attempts, logs and lake datasets of sluice; see docs/ui.md."},
  "components": {
    "securitySchemes": {"token": {"type": "http", "scheme": "bearer", "description": "Needed when the UI was started with --token-file."}},
    "schemas": {
      "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
      "Run": {"type": "object", "properties": {
        "run_id": {"type": "integer"}, "run_key": {"type": "string"}, "ds": {"type": "string", "format": "date"},
        "status": {"type": "string", "enum": ["running", "success", "failed", "cancelled", "cleared"]},
        "trigger": {"type": "string"}, "started_at": {"type": "string"}, "ended_at": {"type": "string"},
        "seconds": {"type": "number"}, "interval_start": {"type": "string"}, "interval_end": {"type": "string"},
        "error": {"type": "string"}, "interrupted": {"type": "boolean"}}},
      "Attempt": {"type": "object", "properties": {
        "attempt_id": {"type": "integer"}, "run_id": {"type": "integer"}, "task_id": {"type": "string"},
        "attempt": {"type": "integer"}, "status": {"type": "string"}, "started_at": {"type": "string"},
        "ended_at": {"type": "string"}, "seconds": {"type": "number"}, "rows_read": {"type": "integer"},
        "rows_loaded": {"type": "integer"}, "rows_rejected": {"type": "integer"}, "bytes": {"type": "integer"},
        "error": {"type": "string"}, "log_bytes": {"type": "integer"}}}
    },
    "parameters": {
      "pipeline": {"name": "pipeline", "in": "path", "required": true, "schema": {"type": "string"}},
      "run": {"name": "run", "in": "path", "required": true, "schema": {"type": "integer"}},
      "attempt": {"name": "attempt", "in": "path", "required": true, "schema": {"type": "integer"}},
      "dataset": {"name": "dataset", "in": "path", "required": true, "schema": {"type": "string"}, "description": "zone.name"}
    },
    "responses": {
      "Error": {"description": "400 bad input, 401 no or wrong token, 403 another origin, 404 not found, 409 the date is running", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }
  },
  "security": [{"token": []}],
  "paths": {
    "/api/v1/session": {"get": {"summary": "Whether a token is needed and whether this client has it", "security": [], "responses": {"200": {"description": "{token_required, signed_in}"}}}},
    "/api/v1/login": {"post": {"summary": "Sign in with the token; sets an HttpOnly session cookie", "security": [], "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"token": {"type": "string"}}}}}}, "responses": {"204": {"description": "signed in"}, "401": {"$ref": "#/components/responses/Error"}}}},
    "/api/v1/pipelines": {"get": {"summary": "Every pipeline with its schedule, next run, last run and last 30 runs", "responses": {"200": {"description": "{pipelines: [...]}"}}}},
    "/api/v1/pipelines/{pipeline}": {"get": {"summary": "A pipeline: tasks with their latest state, datasets, next runs", "parameters": [{"$ref": "#/components/parameters/pipeline"}], "responses": {"200": {"description": "the pipeline"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/api/v1/pipelines/{pipeline}/grid": {"get": {"summary": "Run keys x tasks: the latest run of each of the last run keys", "parameters": [{"$ref": "#/components/parameters/pipeline"}, {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 30}}, {"name": "before", "in": "query", "schema": {"type": "string"}, "description": "a run key: only keys before it"}], "responses": {"200": {"description": "{tasks, columns, cells}"}}}},
    "/api/v1/pipelines/{pipeline}/trends": {"get": {"summary": "Duration, rows loaded and rows rejected per run key", "parameters": [{"$ref": "#/components/parameters/pipeline"}, {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 90}}], "responses": {"200": {"description": "{points}"}}}},
    "/api/v1/pipelines/{pipeline}/runs": {
      "get": {"summary": "Runs, newest first", "parameters": [{"$ref": "#/components/parameters/pipeline"}, {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50}}, {"name": "before", "in": "query", "schema": {"type": "integer"}}], "responses": {"200": {"description": "{runs: [Run]}"}}},
      "post": {"summary": "Start a run (a sluice run process)", "parameters": [{"$ref": "#/components/parameters/pipeline"}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["date"], "properties": {"date": {"type": "string", "description": "a date, a run key, or an interval's start instant"}, "tasks": {"type": "array", "items": {"type": "string"}}, "downstream": {"type": "boolean"}, "force": {"type": "boolean"}, "dry_run": {"type": "boolean"}}}}}}, "responses": {"200": {"description": "dry run: {run_key, ds, interval_start, interval_end, tasks}"}, "202": {"description": "started: the same and pid"}, "400": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
    },
    "/api/v1/pipelines/{pipeline}/runs/{run}": {"get": {"summary": "A run and its task attempts", "parameters": [{"$ref": "#/components/parameters/pipeline"}, {"$ref": "#/components/parameters/run"}], "responses": {"200": {"description": "{run: Run, tasks, attempts: [Attempt]}"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/api/v1/pipelines/{pipeline}/runs/{run}/cancel": {"post": {"summary": "Cancel a running run (SIGTERM to its process; it ends cancelled)", "parameters": [{"$ref": "#/components/parameters/pipeline"}, {"$ref": "#/components/parameters/run"}], "responses": {"202": {"description": "{pid}"}, "409": {"$ref": "#/components/responses/Error"}}}},
    "/api/v1/pipelines/{pipeline}/attempts/{attempt}/log": {"get": {"summary": "A task attempt's log from an offset (poll next_offset to follow it)", "parameters": [{"$ref": "#/components/parameters/pipeline"}, {"$ref": "#/components/parameters/attempt"}, {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}}, {"name": "max", "in": "query", "schema": {"type": "integer", "default": 65536}}], "responses": {"200": {"description": "{text, offset, next_offset, size, running}"}}}},
    "/api/v1/pipelines/{pipeline}/attempts/{attempt}/log.txt": {"get": {"summary": "The whole log, as a download", "parameters": [{"$ref": "#/components/parameters/pipeline"}, {"$ref": "#/components/parameters/attempt"}], "responses": {"200": {"description": "text/plain"}}}},
    "/api/v1/pipelines/{pipeline}/clear": {"post": {"summary": "Make tasks run again for a range of dates", "parameters": [{"$ref": "#/components/parameters/pipeline"}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["date"], "properties": {"date": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}, "tasks": {"type": "array", "items": {"type": "string"}}, "downstream": {"type": "boolean"}, "dry_run": {"type": "boolean"}}}}}}, "responses": {"200": {"description": "{tasks, dates, cleared}"}, "409": {"$ref": "#/components/responses/Error"}}}},
    "/api/v1/pipelines/{pipeline}/backfill": {"post": {"summary": "Run a range of logical dates (a sluice backfill process)", "parameters": [{"$ref": "#/components/parameters/pipeline"}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["from", "to"], "properties": {"from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}, "rerun": {"type": "string", "enum": ["none", "failed", "all"]}, "parallel": {"type": "integer"}, "dry_run": {"type": "boolean"}}}}}}, "responses": {"200": {"description": "{plan, skipped}"}, "202": {"description": "{plan, skipped, pid}"}}}},
    "/api/v1/pipelines/{pipeline}/pause": {"post": {"summary": "The scheduler starts no new runs of it", "parameters": [{"$ref": "#/components/parameters/pipeline"}], "responses": {"200": {"description": "{paused: true}"}}}},
    "/api/v1/pipelines/{pipeline}/unpause": {"post": {"summary": "The scheduler runs it again", "parameters": [{"$ref": "#/components/parameters/pipeline"}], "responses": {"200": {"description": "{paused: false}"}}}},
    "/api/v1/datasets": {"get": {"summary": "Every dataset of the pipelines' lakes", "responses": {"200": {"description": "{datasets: [...]}"}}}},
    "/api/v1/datasets/{dataset}": {"get": {"summary": "A dataset: partitions with their manifests, schema, producer, rejects", "parameters": [{"$ref": "#/components/parameters/dataset"}, {"name": "pipeline", "in": "query", "schema": {"type": "string"}}], "responses": {"200": {"description": "the dataset"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/api/v1/datasets/{dataset}/preview": {"get": {"summary": "The first rows of a partition", "parameters": [{"$ref": "#/components/parameters/dataset"}, {"name": "ds", "in": "query", "schema": {"type": "string", "format": "date"}}, {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50}}], "responses": {"200": {"description": "{ds, columns, rows}"}}}},
    "/api/v1/datasets/{dataset}/rejects": {"get": {"summary": "Rejected rows grouped by error type and column, with examples", "parameters": [{"$ref": "#/components/parameters/dataset"}, {"name": "ds", "in": "query", "schema": {"type": "string", "format": "date"}}], "responses": {"200": {"description": "{dataset, ds, total, reasons}"}}}}
  }
})json";
}

}  // namespace sluice::server
