"""OpenAPI 3 description of /api/v1 (served at /api/v1/openapi.json; tests keep it in sync)."""

from __future__ import annotations

from ballot import __version__
from ballot.storage.models import ItemStatus

ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict:
    text = {
        400: "请求无效",
        401: "未认证",
        403: "无权限或票码不可用",
        404: "不存在",
        409: "状态冲突",
        413: "请求过大",
        422: "内容无效",
        429: "尝试过于频繁",
    }
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _ok(code: int, schema: dict, description: str = "成功") -> dict:
    return {str(code): {"description": description, "content": {"application/json": {"schema": schema}}}}


def _json_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _id(name: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
    }


def _op(summary: str, responses: dict, auth: bool = True, params=(), body=None) -> dict:
    op = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = list(params)
    if body:
        op["requestBody"] = body
    op["security"] = [{"bearer": []}] if auth else []
    return op


CAST_DESCRIPTION = (
    "先核对票码、议题是否在表决中、本票码是否已投过本议题，之后才读取 choices。"
    "响应丢失时（如网络中断）可带同一个 Idempotency-Key 重发完全相同的请求：已计入则返回同一回执"
    "（201，响应头 Idempotent-Replayed: true）；同一键配不同内容返回 422 idempotency_key_reused；"
    "不带该键的重发返回 409 already_cast。该键只保存到议题结束表决（封存时删除），之后重发返回 409 already_cast（该票码的选票已计入）。"
)
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "客户端为每次投票生成的唯一值（建议 UUID），重试时原样重发；服务器只保存以它为密钥的摘要，议题结束表决时删除",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
}
REF = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
# optional: one voting group of an item whose groups vote at separate sittings
GROUP_BODY = {
    "required": False,
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"group_id": {"type": "integer", "minimum": 1}}}
        }
    },
}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "MeetingInput": {
        "type": "object",
        "required": ["meeting", "groups"],
        "description": "与 TOML 会议文件相同的结构（见 examples/README.md）",
        "properties": {
            "meeting": {
                "type": "object",
                "required": ["title"],
                "properties": {
                    "title": {"type": "string", "maxLength": 200},
                    "date": {"type": "string", "maxLength": 32},
                    "location": {"type": "string", "maxLength": 200},
                    "same_surname": {
                        "type": "string",
                        "enum": ["单名优先", "逐字比较"],
                        "description": "同姓人选在姓氏笔画排序中的排列，默认单名优先",
                    },
                },
            },
            "groups": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "expected"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 100},
                        "expected": {"type": "integer", "minimum": 1},
                    },
                },
            },
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["title"],
                    "description": "每种表决方式的配置项见 examples/README.md；approval 须有 nominees",
                    "additionalProperties": True,
                    "properties": {
                        "title": {"type": "string", "maxLength": 200},
                        "kind": {"type": "string", "enum": ["approval", "recommend", "evaluate", "contest", "score"]},
                        "groups": {"type": "array", "items": {"type": "string"}},
                        "rule": {"oneOf": [{"type": "string"}, {"type": "object"}]},
                        "order": {
                            "type": "string",
                            "enum": ["strokes", "entered", "姓氏笔画", "提名顺序"],
                            "description": "人选排列：姓氏笔画（默认）或提名顺序",
                        },
                        "nominees": {
                            "type": "array",
                            "items": {
                                "oneOf": [
                                    {"type": "string"},
                                    {
                                        "type": "object",
                                        "properties": {"name": {"type": "string"}, "post": {"type": "string"}},
                                    },
                                ]
                            },
                        },
                    },
                },
            },
        },
    },
    "Meeting": {
        "type": "object",
        "required": ["id", "title", "groups", "items"],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "date": {"type": "string"},
            "location": {"type": "string"},
            "same_surname": {"type": "string", "enum": ["单名优先", "逐字比较"]},
            "groups": {"type": "array", "items": REF("Group")},
            "items": {"type": "array", "items": REF("Item")},
        },
    },
    "Group": {
        "type": "object",
        "required": ["id", "name", "expected"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "expected": {"type": "integer"},
            "present": {"type": ["integer", "null"]},
        },
    },
    "Item": {
        "type": "object",
        "required": ["id", "title", "kind", "status"],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "kind": {"type": "string"},
            "status": {"type": "string", "enum": [s.value for s in ItemStatus]},
            "compaction_postponed": {
                "type": "string",
                "description": "仅在结束表决的应答中：封存后的数据库整理推迟了，及其原因（如磁盘空间不足）",
            },
        },
    },
    "Codes": {
        "type": "object",
        "required": ["batch_id", "codes", "urls"],
        "properties": {
            "batch_id": {"type": "integer"},
            "codes": {"type": "array", "items": {"type": "string"}},
            "urls": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Turnout": {
        "type": "object",
        "required": ["item_id", "status", "expected", "issued", "cast"],
        "properties": {
            "item_id": {"type": "integer"},
            "status": {"type": "string"},
            "expected": {"type": "integer"},
            "present": {"type": ["integer", "null"]},
            "issued": {"type": "integer"},
            "cast": {"type": "integer"},
        },
    },
    "Result": {
        "type": "object",
        "required": ["item_id", "title", "result"],
        "properties": {
            "item_id": {"type": "integer"},
            "title": {"type": "string"},
            "result": {"type": "object", "description": "计票结果：各人选同意/不同意/弃权、同意率、是否通过、依据"},
        },
    },
    "BallotInput": {
        "type": "object",
        "required": ["code", "item_id", "choices"],
        "properties": {
            "code": {"type": "string", "maxLength": 64, "example": "7K3M-Q9TX-2HBD"},
            "item_id": {"type": "integer", "minimum": 1, "maximum": 2147483647},
            "choices": {
                "type": "object",
                "description": '逐人表态：{"n0": "yes"|"no"|"abstain", …}；未填视为弃权',
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "Receipt": {
        "type": "object",
        "required": ["item_id", "receipt"],
        "properties": {"item_id": {"type": "integer"}, "receipt": {"type": "string"}},
    },
}


def spec() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ballot 无记名投票 API",
            "version": __version__,
            "description": "会务与主持人操作需要 Bearer 令牌（`ballot api-token create`）；投票用一次性票码。"
            '错误一律为 JSON：{"error": {"code", "message"}}。',
        },
        "paths": {
            "/api/v1/meetings": {
                "post": _op(
                    "新建会议（结构同 TOML 会议文件）",
                    {**_ok(201, REF("Meeting"), "已创建"), **_errors(400, 401, 403, 413, 422)},
                    body=_json_body(REF("MeetingInput")),
                )
            },
            "/api/v1/meetings/{meeting_id}": {
                "get": _op(
                    "会议、表决组与议题",
                    {**_ok(200, REF("Meeting")), **_errors(401, 403, 404)},
                    params=[_id("meeting_id")],
                )
            },
            "/api/v1/groups/{group_id}/codes": {
                "post": _op(
                    "签发一次性票码（只返回这一次）",
                    {**_ok(201, REF("Codes"), "已签发"), **_errors(400, 401, 403, 404)},
                    params=[_id("group_id")],
                    body=_json_body(
                        {
                            "type": "object",
                            "required": ["count"],
                            "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 5000}},
                        }
                    ),
                )
            },
            "/api/v1/groups/{group_id}/present": {
                "post": _op(
                    "录入实到人数（null 为清除）",
                    {**_ok(200, REF("Group")), **_errors(400, 401, 403, 404, 409)},
                    params=[_id("group_id")],
                    body=_json_body(
                        {
                            "type": "object",
                            "required": ["present"],
                            "properties": {"present": {"type": ["integer", "null"], "minimum": 0}},
                        }
                    ),
                )
            },
            "/api/v1/items/{item_id}/open": {
                "post": _op(
                    "开始表决（测评、打分可按表决组分别开始）",
                    {**_ok(200, REF("Item")), **_errors(401, 403, 404, 409, 422)},
                    params=[_id("item_id")],
                    body=GROUP_BODY,
                )
            },
            "/api/v1/items/{item_id}/close": {
                "post": _op(
                    "结束表决并封存（测评、打分可按表决组分别结束，最后一组结束时封存）",
                    {**_ok(200, REF("Item")), **_errors(401, 403, 404, 409, 422)},
                    params=[_id("item_id")],
                    body=GROUP_BODY,
                )
            },
            "/api/v1/items/{item_id}/turnout": {
                "get": _op("投票进度", {**_ok(200, REF("Turnout")), **_errors(401, 403, 404)}, params=[_id("item_id")])
            },
            "/api/v1/items/{item_id}/result": {
                "get": _op(
                    "计票结果（表决结束后）",
                    {**_ok(200, REF("Result")), **_errors(401, 403, 404, 409)},
                    params=[_id("item_id")],
                )
            },
            "/api/v1/ballots": {
                "post": {
                    **_op(
                        "用票码投票",
                        {
                            **_ok(201, REF("Receipt"), "已计入；返回回执码（带同一 Idempotency-Key 的重试返回同一回执）"),
                            **_errors(400, 403, 409, 413, 422, 429),
                        },
                        auth=False,
                        params=[IDEMPOTENCY_KEY],
                        body=_json_body(REF("BallotInput")),
                    ),
                    "description": CAST_DESCRIPTION,
                }
            },
            "/api/v1/openapi.json": {
                "get": {"summary": "本文档", "security": [], "responses": {"200": {"description": "OpenAPI 3 文档"}}}
            },
        },
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
