"""Writes server/app/openapi.json, the OpenAPI 3 document of the REST API
(served at /openapi.json): python3 scripts/openapi.py > server/app/openapi.json"""
import json
DT = ["BOOL","UINT8","UINT16","UINT32","UINT64","INT8","INT16","INT32","INT64","FP16","FP32","FP64","BF16","BYTES"]
ref = lambda n: {"$ref": f"#/components/schemas/{n}"}
def js(schema): return {"content": {"application/json": {"schema": schema}}}
def resp(desc, schema=None):
    r = {"description": desc}
    if schema is not None: r.update(js(schema))
    return r
err = lambda d: resp(d, ref("Error"))
E = {"400": err("Invalid request"), "404": err("Unknown model, version or route"), "405": err("Method not allowed"),
     "503": err("Not ready or unavailable")}
def errors(*codes): return {c: E[c] if c in E else err({"401": "Missing or wrong admin token", "413": "Body too large",
    "415": "Unsupported content encoding", "429": "Queue full; retry later", "500": "Model failure",
    "504": "Queued past the request's deadline", "409": "Conflicting repository operation",
    "406": "Not acceptable"}[c]) for c in codes}
model = {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "A positive version number"}
bearer = [{"adminToken": []}, {}]
params = {"type": "object", "additionalProperties": True}
schemas = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "ModelReady": {"type": "object", "required": ["name", "ready"],
                   "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}},
    "ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"],
                       "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                      "extensions": {"type": "array", "items": {"type": "string"}}}},
    "TensorMetadata": {"type": "object", "required": ["name", "datatype", "shape"],
                       "properties": {"name": {"type": "string"}, "datatype": {"type": "string", "enum": DT},
                                      "shape": {"type": "array", "items": {"type": "integer"}}}},
    "ModelMetadata": {"type": "object", "required": ["name", "platform", "inputs", "outputs"],
                      "properties": {"name": {"type": "string"}, "platform": {"type": "string"},
                                     "versions": {"type": "array", "items": {"type": "string"}},
                                     "inputs": {"type": "array", "items": ref("TensorMetadata")},
                                     "outputs": {"type": "array", "items": ref("TensorMetadata")}}},
    "RequestInput": {"type": "object", "required": ["name", "shape", "datatype"],
                     "properties": {"name": {"type": "string"},
                                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                                    "datatype": {"type": "string", "enum": DT}, "parameters": params,
                                    "data": {"description": "Row-major elements, flat or nested; absent when "
                                             "binary_data_size is set"}}},
    "RequestOutput": {"type": "object", "required": ["name"],
                      "properties": {"name": {"type": "string"}, "parameters": params}},
    "InferRequest": {"type": "object", "required": ["inputs"],
                     "properties": {"id": {"type": "string"}, "parameters": params,
                                    "inputs": {"type": "array", "items": ref("RequestInput")},
                                    "outputs": {"type": "array", "items": ref("RequestOutput")}}},
    "ResponseOutput": {"type": "object", "required": ["name", "shape", "datatype"],
                       "properties": {"name": {"type": "string"},
                                      "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                                      "datatype": {"type": "string", "enum": DT}, "parameters": params,
                                      "data": {"type": "array"}}},
    "InferResponse": {"type": "object", "required": ["model_name", "outputs"],
                      "properties": {"model_name": {"type": "string"}, "model_version": {"type": "string"},
                                     "id": {"type": "string"}, "parameters": params,
                                     "outputs": {"type": "array", "items": ref("ResponseOutput")}}},
    "ModelStatistics": {"type": "object", "required": ["model_stats"],
                        "properties": {"model_stats": {"type": "array", "items": {
                            "type": "object", "required": ["name", "version", "inference_stats"],
                            "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                           "last_inference": {"type": "integer"},
                                           "inference_count": {"type": "integer"},
                                           "execution_count": {"type": "integer"},
                                           "inference_stats": {"type": "object"},
                                           "batch_stats": {"type": "array"}}}}}},
    "ModelConfig": {"type": "object", "required": ["name"], "description": "Triton's model configuration, as JSON",
                    "properties": {"name": {"type": "string"}, "max_batch_size": {"type": "integer"},
                                   "input": {"type": "array"}, "output": {"type": "array"}}},
    "RepositoryIndex": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "version": {"type": "string"}, "state": {"type": "string"},
        "reason": {"type": "string"}}}},
    "RepositoryRequest": {"type": "object", "properties": {"ready": {"type": "boolean"}, "parameters": params}},
    "Samples": {"type": "object", "description": "Sampled inputs and outputs of a version, one page, columnar"},
    "V1Models": {"type": "object", "required": ["models"],
                 "properties": {"models": {"type": "array", "items": {"type": "string"}}}},
    "V1Request": {"type": "object", "properties": {"instances": {"type": "array"}, "inputs": {}}},
    "V1Response": {"type": "object", "required": ["predictions"], "properties": {"predictions": {"type": "array"}}},
}
infer_errors = errors("400", "404", "413", "415", "429", "500", "503", "504")
def get(summary, ok_desc, schema, *codes, params=(), security=None):
    op = {"summary": summary, "parameters": list(params), "responses": {"200": resp(ok_desc, schema), **errors(*codes)}}
    if security: op["security"] = security
    return {"get": op}
paths = {
    "/v2": get("Server metadata", "Name, version and extensions", ref("ServerMetadata")),
    "/v2/health/live": get("Liveness", "The process is up", ref("Live")),
    "/v2/health/ready": {"get": {"summary": "Readiness", "parameters": [], "responses": {
        "200": resp("Every model loaded", ref("Ready")), "503": resp("Not ready yet, or draining", ref("Ready"))}}},
    "/v2/models/{model}": get("Model metadata (newest ready version)", "Metadata", ref("ModelMetadata"), "400", "404",
                              params=[model]),
    "/v2/models/{model}/versions/{version}": get("Version metadata", "Metadata", ref("ModelMetadata"), "400", "404",
                                                 params=[model, version]),
    "/v2/models/{model}/config": get("Model configuration", "Triton-style config", ref("ModelConfig"), "400", "404",
                                     params=[model]),
    "/v2/models/{model}/versions/{version}/config": get("Version configuration", "Triton-style config",
                                                        ref("ModelConfig"), "400", "404", params=[model, version]),
    "/v2/models/{model}/ready": {"get": {"summary": "Model readiness", "parameters": [model], "responses": {
        "200": resp("Ready", ref("ModelReady")), "503": resp("Not ready", ref("ModelReady")), **errors("400", "404")}}},
    "/v2/models/{model}/versions/{version}/ready": {"get": {"summary": "Version readiness",
        "parameters": [model, version], "responses": {"200": resp("Ready", ref("ModelReady")),
        "503": resp("Not ready", ref("ModelReady")), **errors("400", "404")}}},
    "/v2/models/{model}/infer": {"post": {"summary": "Inference (newest ready version)", "parameters": [model],
        "requestBody": {"required": True, **js(ref("InferRequest"))},
        "responses": {"200": resp("Outputs", ref("InferResponse")), **infer_errors}}},
    "/v2/models/{model}/versions/{version}/infer": {"post": {"summary": "Inference on a version",
        "parameters": [model, version], "requestBody": {"required": True, **js(ref("InferRequest"))},
        "responses": {"200": resp("Outputs", ref("InferResponse")), **infer_errors}}},
    "/v2/models/stats": get("Statistics of every model", "Statistics", ref("ModelStatistics")),
    "/v2/models/{model}/stats": get("Model statistics", "Statistics", ref("ModelStatistics"), "400", "404",
                                    params=[model]),
    "/v2/models/{model}/versions/{version}/stats": get("Version statistics", "Statistics", ref("ModelStatistics"),
                                                       "400", "404", params=[model, version]),
    "/v2/models/{model}/versions/{version}/samples": get(
        "Sampled requests of a version (admin)", "A page of samples", ref("Samples"), "400", "401", "404",
        params=[model, version, {"name": "since", "in": "query", "required": False, "schema": {"type": "integer",
                                                                                               "minimum": 0}},
                {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}}],
        security=bearer),
    "/v2/repository/index": {"post": {"summary": "Repository index (admin)", "security": bearer,
        "requestBody": {"required": False, **js(ref("RepositoryRequest"))},
        "responses": {"200": resp("Models and versions", ref("RepositoryIndex")), **errors("400", "401", "503")}}},
    "/v2/repository/models/{model}/load": {"post": {"summary": "Load or reload a model (admin)", "security": bearer,
        "parameters": [model], "requestBody": {"required": False, **js(ref("RepositoryRequest"))},
        "responses": {"200": resp("Loaded", {"type": "object"}),
                      **errors("400", "401", "404", "409", "503")}}},
    "/v2/repository/models/{model}/unload": {"post": {"summary": "Unload a model (admin)", "security": bearer,
        "parameters": [model], "requestBody": {"required": False, **js(ref("RepositoryRequest"))},
        "responses": {"200": resp("Unloaded", {"type": "object"}), **errors("400", "401", "404", "409", "503")}}},
    "/v1/health/live": get("Liveness (KServe v1)", "The process is up", ref("Live")),
    "/v1/health/ready": {"get": {"summary": "Readiness (KServe v1)", "parameters": [], "responses": {
        "200": resp("Ready", ref("Ready")), "503": resp("Not ready", ref("Ready"))}}},
    "/v1/models": get("Models (KServe v1)", "Served model names", ref("V1Models")),
    "/v1/models/{model}": {"get": {"summary": "Model readiness (KServe v1)", "parameters": [model], "responses": {
        "200": resp("Ready", ref("ModelReady")), "503": resp("Not ready", ref("ModelReady")),
        **errors("400", "404")}}},
    "/v1/models/{model}:predict": {"post": {"summary": "Predict (KServe v1)", "parameters": [model],
        "requestBody": {"required": True, **js(ref("V1Request"))},
        "responses": {"200": resp("Predictions", ref("V1Response")), **infer_errors}}},
    "/v1/models/{model}/versions/{version}:predict": {"post": {"summary": "Predict on a version (KServe v1)",
        "parameters": [model, version], "requestBody": {"required": True, **js(ref("V1Request"))},
        "responses": {"200": resp("Predictions", ref("V1Response")), **infer_errors}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
        "description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": resp("OpenAPI 3.0", {"type": "object"})}}},
}
doc = {"openapi": "3.0.3",
       "info": {"title": "sluice REST API", "version": "0.1.0",
                "description": "Open Inference Protocol v2 (KServe / Triton), its model repository, statistics "
                               "and configuration extensions, KServe v1 predict, and Prometheus metrics. Every "
                               "error is JSON: {\"error\": \"...\"}."},
       "paths": paths,
       "components": {"schemas": schemas, "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}}}}
print(json.dumps(doc, indent=1))
