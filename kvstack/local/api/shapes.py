"""The request shapes every route accepts, as pydantic models (one place; the routes parse through them).

Written from the pinned SDK's parameter types (``cloudflare.types.*_params``) and Cloudflare's documented
limits; where the 2024 OpenAPI subset and the SDK disagree, the SDK wins (see docs/contracts.md).
Strict types: a JSON object where a string belongs, ``1e400`` where an integer belongs, or a date where a
date-time belongs is a 400, never stored.
"""

from __future__ import annotations

import ipaddress
import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from kvstack.local.api.limits import (
    BULK_GET_MAX,
    BULK_WRITE_MAX,
    MAX_TITLE_BYTES,
    MAX_TOKEN_NAME,
    PROJECT_NAME_MAX,
)

__all__ = [
    "BulkGet",
    "BulkItem",
    "KeyListQuery",
    "Knobs",
    "NamespaceCreate",
    "NamespaceListQuery",
    "NamespaceRename",
    "PageQuery",
    "ProjectCreate",
    "ProjectEdit",
    "ScriptRegistration",
    "SinceQuery",
    "TokenBody",
    "ValueWriteQuery",
]

# Seconds since the epoch of 9999-12-31: later expiry times are refused, as absurd, before any arithmetic.
LAST_EXPIRY = 253_402_300_799


class Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _whole_seconds(value: Any) -> Any:
    """Query strings and JSON numbers alike: an integral, finite count of seconds (``"120"``, ``120``, ``120.0``)."""
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds")
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 20:
            raise ValueError("must be a number of seconds")
        try:
            value = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            raise ValueError("must be a number of seconds") from None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ValueError("must be a whole, finite number of seconds")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("must be a number of seconds")
    if not 0 <= value <= LAST_EXPIRY:
        raise ValueError(f"must be between 0 and {LAST_EXPIRY}")
    return value


Seconds = Annotated[int, BeforeValidator(_whole_seconds)]


def _title(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value.encode()) > MAX_TITLE_BYTES:
        raise ValueError(f"must be at most {MAX_TITLE_BYTES} bytes")
    return value


Title = Annotated[StrictStr, AfterValidator(_title)]


def _rfc3339(value: str) -> str:
    """A full RFC 3339 date-time with a zone (``2027-11-30T00:00:00Z``), normalised to UTC with a ``Z``."""
    if "T" not in value.upper():
        raise ValueError("must be an RFC 3339 date-time such as 2027-11-30T00:00:00Z (a date alone is not)")
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an RFC 3339 date-time such as 2027-11-30T00:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError("must carry a time zone (Z or +hh:mm)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


DateTime = Annotated[StrictStr, AfterValidator(_rfc3339)]


# --- KV


class NamespaceCreate(Shape):
    title: Title
    jurisdiction: Literal["eu", "fedramp", "us"] | None = None


class NamespaceRename(Shape):
    title: Title


class PageQuery(Shape):
    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    per_page: int | None = None
    direction: Literal["asc", "desc"] | None = None


class NamespaceListQuery(PageQuery):
    order: Literal["id", "title"] = "id"


class KeyListQuery(Shape):
    limit: Annotated[int, Field(ge=10, le=1000)] = 1000
    prefix: str = ""
    cursor: str = ""


class ValueWriteQuery(Shape):
    expiration: Seconds | None = None
    expiration_ttl: Seconds | None = None


class BulkItem(Shape):
    key: StrictStr
    value: StrictStr
    base64: StrictBool = False
    expiration: Seconds | None = None
    expiration_ttl: Seconds | None = None
    metadata: Any = None


BulkWrite = Annotated[list[BulkItem], Field(max_length=BULK_WRITE_MAX)]
BulkDelete = Annotated[list[StrictStr], Field(max_length=BULK_WRITE_MAX)]


class BulkGet(Shape):
    keys: Annotated[list[StrictStr], Field(min_length=1, max_length=BULK_GET_MAX)]
    type: Literal["text", "json"] = "text"
    withMetadata: StrictBool = False


# --- tokens


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR range") from None


Network = Annotated[StrictStr, AfterValidator(_network)]


class IpCondition(Shape):
    in_: list[Network] | None = Field(default=None, validation_alias="in")
    not_in: list[Network] | None = None


class Condition(Shape):
    """``request.ip`` as Cloudflare's docs write it, or ``request_ip`` as SDK 5.9 sends it."""

    request_ip: IpCondition | None = Field(default=None, validation_alias=AliasChoices("request.ip", "request_ip"))


class GroupRef(Shape):
    id: StrictStr


def _resources(value: Any) -> Any:
    """Some clients (the Pulumi provider's JSON string) send resources as JSON text: accept that form too."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("must be an object, or that object as JSON text") from None
    return value


Resources = Annotated[
    dict[StrictStr, StrictStr] | dict[StrictStr, dict[StrictStr, StrictStr]],
    BeforeValidator(_resources),
    Field(min_length=1),
]


class Policy(Shape):
    effect: Literal["allow", "deny"]
    permission_groups: Annotated[list[GroupRef], Field(min_length=1)]
    resources: Resources


class TokenBody(Shape):
    name: Annotated[StrictStr, Field(min_length=1, max_length=MAX_TOKEN_NAME)]
    policies: Annotated[list[Policy], Field(min_length=1)]
    expires_on: DateTime | None = None
    not_before: DateTime | None = None
    status: Literal["active", "disabled", "expired"] | None = None
    condition: Condition | None = None


class TokenListQuery(PageQuery):
    per_page: Annotated[int, Field(ge=5, le=50)] | None = None


# --- Pages


class KvBinding(Shape):
    namespace_id: StrictStr


class EnvVar(Shape):
    type: Literal["plain_text", "secret_text"]
    value: StrictStr


class DeploymentConfig(BaseModel):
    """One of ``deployment_configs.production`` / ``.preview``: typed where kvstack reads it, open elsewhere."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kv_namespaces: dict[StrictStr, KvBinding | None] | None = None
    env_vars: dict[StrictStr, EnvVar | None] | None = None
    compatibility_date: StrictStr | None = None
    compatibility_flags: list[StrictStr] | None = None
    always_use_latest_compatibility_date: StrictBool | None = None
    fail_open: StrictBool | None = None
    usage_model: Literal["standard", "bundled", "unbound"] | None = None


class DeploymentConfigs(Shape):
    production: DeploymentConfig | None = None
    preview: DeploymentConfig | None = None


ProjectName = Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=PROJECT_NAME_MAX)]


class ProjectEdit(Shape):
    name: ProjectName | None = None
    production_branch: StrictStr | None = None
    build_config: dict[StrictStr, Any] | None = None
    source: dict[StrictStr, Any] | None = None
    deployment_configs: DeploymentConfigs | None = None


class ProjectCreate(ProjectEdit):
    name: ProjectName


# --- Workers (script registration by `kvstack local up`) and the admin routes


class Binding(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: StrictStr
    name: StrictStr


class ScriptRegistration(Shape):
    bindings: list[Binding] = []
    compatibility_date: StrictStr = ""
    compatibility_flags: list[StrictStr] = []


class Knobs(Shape):
    latency_ms: Annotated[StrictInt, Field(ge=0, le=60_000)] | None = None
    faults: StrictStr | None = None
    seed: Annotated[StrictInt, Field(ge=0, le=2**63)] | None = None
    rate_limit: StrictStr | None = None
    consistency_delay: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] | None = None


class SinceQuery(Shape):
    since: Annotated[int, Field(ge=0)] = 0
