//! `/openapi.json`: the API described as OpenAPI 3.1.

use axum::Json;
use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": {
        "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn param(name: &str, place: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": place, "required": place == "path",
            "description": description, "schema": schema })
}

fn errors(codes: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(
        "401".into(),
        error_response("no valid token (missing, unknown, revoked, expired)"),
    );
    for (code, what) in codes {
        m.insert((*code).into(), error_response(what));
    }
    m
}

fn with(mut responses: serde_json::Map<String, Value>, code: &str, v: Value) -> Value {
    responses.insert(code.into(), v);
    Value::Object(responses)
}

/// The document.
pub fn spec() -> Value {
    let run_id = param("id", "path", "run id", json!({"type": "string"}));
    let gate = param("gate", "path", "gate id", json!({"type": "string"}));
    let decision_body = json!({ "required": true, "content": { "application/json": { "schema": {
        "type": "object", "additionalProperties": false,
        "properties": { "comment": { "type": "string", "maxLength": 4096 } } } } } });
    let decided = ok(
        "the gate as recorded; `changed` is false when the same decision was already recorded",
        json!({
        "type": "object", "properties": {
            "approval": { "$ref": "#/components/schemas/Approval" },
            "changed": { "type": "boolean" }, "resumed": { "type": "boolean" } } }),
    );
    json!({
        "openapi": "3.1.0",
        "info": { "title": "berth runs service", "version": env!("CARGO_PKG_VERSION"),
            "description": "Runs, logs, artifacts and approval gates of a berth store. Every /api/v1 call needs `Authorization: Bearer <token>`; reads need the viewer role, writes the approver role." },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "properties": { "error": { "type": "object", "properties": {
                    "kind": { "type": "string", "enum": ["invalid_input", "too_large", "conflict", "stale_fence", "not_found", "unsupported", "corrupt", "backend", "unauthorized", "forbidden", "busy", "not_resumable", "plan_changed", "secret_unavailable", "timeout"] },
                    "message": { "type": "string" }, "hint": { "type": ["string", "null"] },
                    "exitCode": { "type": ["integer", "null"], "description": "what the berth CLI exits with for the same failure" } } } } },
                "RunSummary": { "type": "object", "properties": {
                    "id": {"type": "string"}, "status": { "$ref": "#/components/schemas/RunStatus" },
                    "plan": {"type": ["string", "null"]}, "planHash": {"type": "string"},
                    "tenantId": {"type": ["string", "null"]}, "stepsDone": {"type": "integer"}, "stepsTotal": {"type": "integer"},
                    "requestedAt": {"$ref": "#/components/schemas/Millis"}, "createdAt": {"$ref": "#/components/schemas/Millis"},
                    "updatedAt": {"$ref": "#/components/schemas/Millis"} } },
                "RunStatus": { "type": "string", "enum": ["pending", "running", "paused", "succeeded", "failed", "cancelled"] },
                "Millis": { "type": "integer", "description": "milliseconds since the Unix epoch, UTC" },
                "Step": { "type": "object", "properties": {
                    "stepId": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "running", "waiting_approval", "succeeded", "failed", "skipped"]},
                    "attempts": {"type": "integer"}, "nextAttemptAt": {"$ref": "#/components/schemas/Millis"}, "lastError": {"type": "string"} } },
                "Run": { "type": "object", "description": "the run record; plan environment values and secret-named fields are replaced by <redacted>", "properties": {
                    "id": {"type": "string"}, "status": {"$ref": "#/components/schemas/RunStatus"}, "planHash": {"type": "string"},
                    "plan": {"type": "object"}, "failurePolicy": {"type": "object"},
                    "steps": {"type": "array", "items": {"$ref": "#/components/schemas/Step"}},
                    "tenantId": {"type": "string"}, "version": {"type": "integer"},
                    "requestedAt": {"$ref": "#/components/schemas/Millis"}, "createdAt": {"$ref": "#/components/schemas/Millis"}, "updatedAt": {"$ref": "#/components/schemas/Millis"} } },
                "Approval": { "type": "object", "properties": {
                    "runId": {"type": "string"}, "approvalId": {"type": "string"}, "stepId": {"type": ["string", "null"]},
                    "message": {"type": ["string", "null"]}, "status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
                    "requiredCount": {"type": "integer"}, "requestedAt": {"$ref": "#/components/schemas/Millis"},
                    "decidedAt": {"type": ["integer", "null"]},
                    "decisions": {"type": "array", "items": {"type": "object", "properties": {
                        "actor": {"type": "string", "description": "name of the token that decided"},
                        "decision": {"type": "string", "enum": ["approve", "reject"]},
                        "reason": {"type": ["string", "null"], "description": "the comment"},
                        "decidedAt": {"$ref": "#/components/schemas/Millis"} } } } } },
                "Artifact": { "type": "object", "properties": {
                    "runId": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"},
                    "status": {"type": "string", "enum": ["pending", "copied", "materialized", "skipped"]},
                    "sourcePath": {"type": ["string", "null"]}, "storedPath": {"type": ["string", "null"]},
                    "notes": {"type": ["string", "null"]}, "capturedAt": {"$ref": "#/components/schemas/Millis"} } },
                "LogEntry": { "type": "object", "properties": {
                    "runId": {"type": "string"}, "sequence": {"type": "integer"}, "timestamp": {"$ref": "#/components/schemas/Millis"},
                    "level": {"type": "string", "enum": ["trace", "debug", "info", "warn", "error"]},
                    "eventType": {"type": "string"}, "message": {"type": "string"}, "stepId": {"type": "string"},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}} } }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/api/v1/whoami": { "get": { "summary": "the caller's name and role",
                "responses": with(errors(&[]), "200", ok("name, role, tokenId", json!({"type": "object"}))) } },
            "/api/v1/runs": { "get": { "summary": "runs, most recently updated first (viewer)",
                "parameters": [
                    param("status", "query", "only runs with this status", json!({"$ref": "#/components/schemas/RunStatus"})),
                    param("tenant", "query", "only runs of this tenant", json!({"type": "string"})),
                    param("cursor", "query", "nextCursor of the previous page", json!({"type": "string"})),
                    param("limit", "query", "page size, 1–500 (default 50)", json!({"type": "integer"}))],
                "responses": with(errors(&[("400", "bad status, tenant, cursor or limit"), ("403", "role")]), "200",
                    ok("a page; follow nextCursor while it is not null", json!({"type": "object", "properties": {
                        "runs": {"type": "array", "items": {"$ref": "#/components/schemas/RunSummary"}},
                        "damaged": {"type": "array", "description": "run documents that could not be read and are left out, by key",
                            "items": {"type": "object", "properties": {"key": {"type": "string"}, "reason": {"type": "string"}}}},
                        "nextCursor": {"type": ["string", "null"]} } }))) } },
            "/api/v1/runs/{id}": { "get": { "summary": "one run with steps and attempts, gates, artifacts, runner (viewer)",
                "parameters": [run_id.clone()],
                "responses": with(errors(&[("404", "unknown run")]), "200", ok("the run", json!({"type": "object", "properties": {
                    "run": {"$ref": "#/components/schemas/Run"},
                    "approvals": {"type": "array", "items": {"$ref": "#/components/schemas/Approval"}},
                    "artifacts": {"type": "array", "items": {"$ref": "#/components/schemas/Artifact"}},
                    "runner": {"type": ["object", "null"], "description": "owner and expiresAt of the live runner lease"},
                    "lastSequence": {"type": ["integer", "null"]} } }))) } },
            "/api/v1/runs/{id}/logs": { "get": { "summary": "log entries after a sequence (viewer)",
                "parameters": [run_id.clone(),
                    param("after", "query", "only entries with a greater sequence", json!({"type": "integer"})),
                    param("limit", "query", "1–1000 (default 200)", json!({"type": "integer"}))],
                "responses": with(errors(&[("400", "bad after/limit"), ("404", "unknown run")]), "200", ok("entries; pass next as after", json!({"type": "object", "properties": {
                    "entries": {"type": "array", "items": {"$ref": "#/components/schemas/LogEntry"}},
                    "next": {"type": ["integer", "null"]}, "ended": {"type": "boolean"} } }))) } },
            "/api/v1/runs/{id}/logs/stream": { "get": { "summary": "live follow as Server-Sent Events (viewer): `log` events (id = sequence, data = LogEntry), then one `end` event once the run has ended; resumes after `Last-Event-ID`",
                "parameters": [run_id.clone(),
                    param("after", "query", "start after this sequence", json!({"type": "integer"})),
                    param("Last-Event-ID", "header", "start after this sequence (reconnects)", json!({"type": "integer"}))],
                "responses": with(errors(&[("400", "bad after"), ("404", "unknown run")]), "200",
                    json!({"description": "event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}})) } },
            "/api/v1/runs/{id}/artifacts": { "get": { "summary": "a run's artifacts (viewer)", "parameters": [run_id.clone()],
                "responses": with(errors(&[("404", "unknown run")]), "200", ok("artifacts", json!({"type": "object", "properties": {
                    "artifacts": {"type": "array", "items": {"$ref": "#/components/schemas/Artifact"}} } }))) } },
            "/api/v1/runs/{id}/artifacts/{name}": { "get": { "summary": "download an artifact, content type from its name, as an attachment (viewer)",
                "parameters": [run_id.clone(), param("name", "path", "artifact name", json!({"type": "string"}))],
                "responses": with(errors(&[("403", "stored outside the artifacts root"), ("404", "unknown run or artifact, or no stored file")]), "200",
                    json!({"description": "the file", "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}})) } },
            "/api/v1/runs/{id}/approvals/{gate}/approve": { "post": { "summary": "approve a gate as the token's holder (approver); the run resumes once the gate is approved",
                "parameters": [run_id.clone(), gate.clone()], "requestBody": decision_body.clone(),
                "responses": with(errors(&[("400", "bad body"), ("403", "role"), ("404", "unknown run or gate"), ("409", "already decided otherwise, run ended, plan changed"), ("413", "body too large")]), "200", decided.clone()) } },
            "/api/v1/runs/{id}/approvals/{gate}/reject": { "post": { "summary": "reject a gate (approver); comment required; the run fails with it",
                "parameters": [run_id.clone(), gate], "requestBody": decision_body,
                "responses": with(errors(&[("400", "bad body or no comment"), ("403", "role"), ("404", "unknown run or gate"), ("409", "already decided otherwise, run ended"), ("413", "body too large")]), "200", decided) } },
            "/api/v1/runs/{id}/resume": { "post": { "summary": "continue a paused or orphaned run in this service (approver)",
                "parameters": [run_id.clone()],
                "responses": with(errors(&[("403", "role"), ("404", "unknown run"), ("409", "ended, busy (a live runner holds it), plan changed")]), "202",
                    ok("resuming", json!({"type": "object"}))) } },
            "/api/v1/runs/{id}/cancel": { "post": { "summary": "cancel a run no live runner executes (approver); idempotent",
                "parameters": [run_id],
                "responses": with(errors(&[("403", "role"), ("404", "unknown run"), ("409", "ended otherwise, busy")]), "200",
                    ok("the run; changed is false if it was already cancelled", json!({"type": "object"}))) } },
            "/openapi.json": { "get": { "summary": "this document", "security": [], "responses": { "200": ok("OpenAPI 3.1", json!({"type": "object"})) } } },
            "/healthz": { "get": { "summary": "liveness", "security": [], "responses": { "200": { "description": "ok" } } } }
        }
    })
}

/// `GET /openapi.json`.
pub async fn document() -> Json<Value> {
    Json(spec())
}
