//! The OpenAPI 3.1 description of `/api/v1`, served at `/api/v1/openapi.json` so clients can be
//! generated and humans can read what each route takes and returns. Written by hand next to the
//! routes (a test checks that every route in the router is described).

use serde_json::{json, Value};

/// The document.
pub fn document() -> Value {
    let error = json!({"$ref": "#/components/responses/Error"});
    let unauthorized = json!({"$ref": "#/components/responses/Unauthorized"});
    let domains_body = json!({
        "required": true,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Domains"}}}
    });
    let ok = |description: &str, schema: Value| json!({"description": description, "content": {"application/json": {"schema": schema}}});
    let domain_param = json!({"name": "domain", "in": "path", "required": true,
        "description": "A domain in any form `pforge enrich` accepts (URL, host, e-mail); it is normalized.",
        "schema": {"type": "string"}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "PartnerForge daemon API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Submit enrichment, follow jobs, read the latest intelligence, changes and alerts, and edit the daemon's target list. Every route except this document needs `Authorization: Bearer <token>` (the token comes from [daemon] token or the environment variable named by [daemon] token_env, PFORGE_API_TOKEN by default). Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code. /metrics, /healthz and /readyz (outside /api/v1) need no token."
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/enrich": {"post": {
                "summary": "Enrich domains now (a job; poll its status_url)",
                "requestBody": domains_body,
                "responses": {
                    "202": ok("Job accepted", json!({"type": "object", "required": ["job_id"], "properties": {
                        "job_id": {"type": "string", "format": "uuid"},
                        "domains": {"type": "integer"},
                        "status_url": {"type": "string"}}})),
                    "400": error, "401": unauthorized,
                    "503": {"description": "Shutting down (`shutting_down`) or database unavailable (`store_unavailable`)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
            }},
            "/jobs": {"get": {
                "summary": "Recent jobs, newest first",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}],
                "responses": {"200": ok("Jobs", json!({"type": "object", "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}})),
                              "400": error, "401": unauthorized}
            }},
            "/jobs/{id}": {"get": {
                "summary": "One job with its work-item counts by status",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": {"200": ok("The job", json!({"type": "object", "properties": {
                        "job": {"$ref": "#/components/schemas/Job"},
                        "items": {"type": "integer"},
                        "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                                   "description": "pending, running, new_version, unchanged, fresh, failed, skipped"}}})),
                              "400": error, "401": unauthorized, "404": error}
            }},
            "/domains/{domain}": {"get": {
                "summary": "Latest intelligence: the newest snapshot of every module, with citations",
                "parameters": [domain_param.clone()],
                "responses": {"200": ok("Latest snapshots", json!({"type": "object", "properties": {
                        "domain": {"type": "string"},
                        "modules": {"type": "array", "items": {"$ref": "#/components/schemas/Snapshot"}}}})),
                              "400": error, "401": unauthorized, "404": error}
            }},
            "/domains/{domain}/snapshots": {"get": {
                "summary": "Every stored version, oldest first",
                "parameters": [domain_param.clone(),
                    {"name": "module", "in": "query", "schema": {"type": "string"}, "description": "Only this module id"}],
                "responses": {"200": ok("Snapshot history", json!({"type": "object", "properties": {
                        "domain": {"type": "string"},
                        "snapshots": {"type": "array", "items": {"$ref": "#/components/schemas/Snapshot"}}}})),
                              "400": error, "401": unauthorized}
            }},
            "/changes": {"get": {
                "summary": "Change events, oldest first",
                "parameters": [
                    {"name": "since", "in": "query", "schema": {"type": "string", "default": "7d"},
                     "description": "An age (30m, 12h, 7d) or an RFC 3339 time"},
                    {"name": "min_level", "in": "query", "schema": {"type": "string", "enum": ["low", "medium", "high", "critical"], "default": "low"}},
                    {"name": "domain", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 1000}}],
                "responses": {"200": ok("Changes", json!({"type": "object", "properties": {
                        "since": {"type": "string", "format": "date-time"},
                        "min_level": {"type": "string"},
                        "changes": {"type": "array", "items": {"type": "object"}}}})),
                              "400": error, "401": unauthorized}
            }},
            "/alerts": {"get": {
                "summary": "Alerts in the outbox, newest first",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["pending", "delivered", "dead", "disabled"]}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 100}}],
                "responses": {"200": ok("Alerts", json!({"type": "object", "properties": {
                        "alerts": {"type": "array", "items": {"type": "object"}}}})),
                              "400": error, "401": unauthorized}
            }},
            "/targets": {
                "get": {"summary": "The target list (schedules with targets = \"table\" and freshness refresh use it)",
                        "responses": {"200": ok("Targets", json!({"type": "object", "properties": {
                            "targets": {"type": "array", "items": {"$ref": "#/components/schemas/Target"}}}})),
                                      "401": unauthorized}},
                "post": {"summary": "Add domains (already listed ones are kept as they are)",
                         "requestBody": domains_body.clone(),
                         "responses": {"201": ok("Some were new", json!({"type": "object", "properties": {"added": {"type": "integer"}}})),
                                       "200": ok("All were listed already", json!({"type": "object", "properties": {"added": {"type": "integer"}}})),
                                       "400": error, "401": unauthorized}},
                "delete": {"summary": "Remove domains",
                           "requestBody": domains_body,
                           "responses": {"200": ok("Removed", json!({"type": "object", "properties": {"removed": {"type": "integer"}}})),
                                         "400": error, "401": unauthorized}}
            },
            "/targets/{domain}": {"delete": {
                "summary": "Remove one domain",
                "parameters": [domain_param],
                "responses": {"200": ok("Removed", json!({"type": "object", "properties": {"removed": {"type": "integer"}}})),
                              "400": error, "401": unauthorized, "404": error}
            }},
            "/openapi.json": {"get": {
                "summary": "This document (no token needed)",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document"}}
            }}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {"description": "Bad input (`invalid_input`, `invalid_domain`) or not found (`not_found`)",
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "Unauthorized": {"description": "Missing or wrong bearer token (`unauthorized`)",
                                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "enum": ["unauthorized", "not_found", "invalid_input", "invalid_domain",
                                                            "method_not_allowed", "shutting_down", "store_unavailable"]},
                        "message": {"type": "string"},
                        "details": {"type": "array", "items": {"type": "object"}}}}}},
                "Domains": {"type": "object", "required": ["domains"], "additionalProperties": false,
                            "properties": {"domains": {"type": "array", "minItems": 1, "items": {"type": "string"}}}},
                "Job": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "label": {"type": "string"},
                    "status": {"type": "string", "enum": ["running", "completed", "failed", "cancelled"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "finished_at": {"type": ["string", "null"], "format": "date-time"}}},
                "Snapshot": {"type": "object", "properties": {
                    "domain": {"type": "string"}, "module": {"type": "string"}, "version": {"type": "integer"},
                    "data": {}, "citations": {},
                    "content_hash": {"type": "string"},
                    "fetched_at": {"type": "string", "format": "date-time"},
                    "checked_at": {"type": "string", "format": "date-time"}}},
                "Target": {"type": "object", "properties": {
                    "domain": {"type": "string"},
                    "added_at": {"type": "string", "format": "date-time"}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_described() {
        let doc = super::document();
        let paths = doc["paths"].as_object().unwrap();
        for (path, method) in [
            ("/enrich", "post"),
            ("/jobs", "get"),
            ("/jobs/{id}", "get"),
            ("/domains/{domain}", "get"),
            ("/domains/{domain}/snapshots", "get"),
            ("/changes", "get"),
            ("/alerts", "get"),
            ("/targets", "get"),
            ("/targets", "post"),
            ("/targets", "delete"),
            ("/targets/{domain}", "delete"),
            ("/openapi.json", "get"),
        ] {
            assert!(paths[path][method].is_object(), "{method} {path} missing");
        }
    }
}
