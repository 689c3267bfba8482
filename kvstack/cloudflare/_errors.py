"""The one map from the SDK's and httpx's errors to kvstack's typed errors (``kvstack.errors``).

    cloudflare.APIStatusError (after the transport's retries)
      ├─ 401, 403 ──▶ AuthenticationError
      ├─ 429      ──▶ RateLimitedError
      └─ other    ──▶ CloudflareError (status, Cloudflare's codes)
    RunAborted (the run's guard ended the run) ──▶ the guard's own typed error, as it wrote it
    cloudflare.APIConnectionError, httpx.HTTPError ──▶ CloudflareError ("could not reach …")
    an answer that is no success envelope ──▶ CloudflareError

Every message says what was being done, the method and path, and Cloudflare's codes; token values
never appear (the SDK's errors do not carry headers into their text, and neither do these).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cloudflare
import httpx

from kvstack.cloudflare._guard import RunAborted
from kvstack.cloudflare._transport import retry_after_seconds
from kvstack.errors import AuthenticationError, CloudflareError, RateLimitedError

__all__ = ["UNREACHABLE_HINT", "envelope_error", "mapped_errors", "status_error", "unreachable_error"]

UNREACHABLE_HINT = "check the network or that `kvstack local up` is running (`kvstack local status`)"


def _errors_text(body: object) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return "no error details"
    return "; ".join(
        f"{e.get('code', '?')} {e.get('message', '')}".strip() if isinstance(e, dict) else str(e) for e in errors
    )


def _codes(body: object) -> tuple[int, ...]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return tuple(e["code"] for e in errors or [] if isinstance(e, dict) and isinstance(e.get("code"), int))


def status_error(what: str, exc: cloudflare.APIStatusError) -> CloudflareError:
    """The typed error for an HTTP error the SDK raised (after the transport's retries)."""
    status = exc.status_code
    request = exc.response.request
    where = f"{request.method} {request.url.path}"
    try:
        body: object = exc.response.json()
    except ValueError:
        body = None
    detail = _errors_text(body)
    codes = _codes(body)
    message = f"{what}: {where} answered HTTP {status}: {detail}"
    if status in (401, 403):
        return AuthenticationError(
            message,
            status=status,
            codes=codes,
            hint="the token is wrong, expired, or lacks the permission this request needs",
        )
    if status == 429:
        wait = retry_after_seconds(exc.response.headers)
        return RateLimitedError(
            message + (f" (Retry-After {wait:.0f} s)" if wait is not None else ""),
            status=status,
            codes=codes,
            hint="the API rate limit (1,200 requests per 5 minutes) is exhausted; wait, or lower --concurrency",
        )
    return CloudflareError(message, status=status, codes=codes)


def unreachable_error(what: str, exc: BaseException, *, where: str, attempts: int | None = None) -> CloudflareError:
    """The typed error for an API that did not answer (connection refused, dropped, timed out)."""
    cause = exc.__cause__ or exc
    tries = f" after {attempts} attempts" if attempts else ""
    return CloudflareError(
        f"{what}: could not reach the Cloudflare API at {where}{tries} ({type(cause).__name__}: {cause})",
        hint=UNREACHABLE_HINT,
    )


def envelope_error(what: str, status: int, body: object) -> CloudflareError:
    """The typed error for an answer that is not a success envelope (``{"success": true, "result": …}``)."""
    if not isinstance(body, dict):
        return CloudflareError(f"{what}: the API answered HTTP {status} with non-JSON", status=status)
    return CloudflareError(
        f"{what}: the API answered an error envelope: {_errors_text(body)}", status=status, codes=_codes(body)
    )


@contextmanager
def mapped_errors(what: str, *, where: str, attempts: int | None = None) -> Iterator[None]:
    """Re-raise the SDK's and httpx's errors inside the block as kvstack's, naming ``what`` was being done."""
    try:
        yield
    except cloudflare.APIStatusError as exc:
        raise status_error(what, exc) from exc
    except (cloudflare.APIConnectionError, httpx.HTTPError) as exc:
        aborted = exc if isinstance(exc, RunAborted) else exc.__cause__
        if isinstance(aborted, RunAborted):  # the run ended early: its one typed error, as the guard wrote it
            raise aborted.error from exc
        raise unreachable_error(what, exc, where=where, attempts=attempts) from exc
