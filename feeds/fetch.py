"""Download feeds politely and defensively: one ``httpx.AsyncClient`` for a whole cycle.

Every way a server can misbehave becomes a ``FetchError`` carrying the feed URL and whether
trying later can help (``transient``), or a ``RateLimitedError`` carrying when to try again.
Nothing here parses or stores; the bytes go to ``feeds.parse`` unchanged.

Defences, each against a real failure mode:

- redirects are followed by hand (``settings.max_redirects``) so that every hop is checked
  to be http(s): a ``Location: file:///etc/passwd`` ends the fetch instead of being tried;
- the body is counted while it streams, *after* Content-Encoding decoding
  (``aiter_bytes``), so a 60 MB body or a gzip bomb stops at ``max_body_bytes``;
- one deadline (``timeout_seconds``) covers all hops and the whole body, so a server that
  trickles bytes forever fails like one that never answers; waiting for a free
  concurrency slot is *not* counted against the feed;
- at most ``concurrency`` fetches in total and ``per_host_concurrency`` per host name.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from feeds.decide import parse_retry_after
from silkwatch.config import FetchSettings
from silkwatch.errors import FetchError, RateLimitedError
from silkwatch.types import FeedState, FetchResult

__all__ = ["ACCEPT", "Fetcher"]

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Fetcher:
    """One httpx.AsyncClient for a whole cycle; total and per-host concurrency limits.

    Use as ``async with Fetcher(settings) as fetcher: await fetcher.fetch(url, state)``.
    ``transport`` lets tests or callers plug in another httpx transport; by default httpx
    opens real connections.
    """

    def __init__(
        self, settings: FetchSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ):
        self._settings = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._total = asyncio.Semaphore(settings.concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        s = self._settings
        # Fresh limits per ``async with``: semaphores belong to the running event loop.
        self._total = asyncio.Semaphore(s.concurrency)
        self._per_host = {}
        self._client = httpx.AsyncClient(
            transport=self._transport,
            timeout=httpx.Timeout(s.timeout_seconds, connect=s.connect_timeout_seconds),
            limits=httpx.Limits(
                max_connections=s.concurrency, max_keepalive_connections=s.concurrency
            ),
            headers={"User-Agent": s.user_agent, "Accept": ACCEPT},
            follow_redirects=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, url: str, state: FeedState) -> FetchResult:
        """Conditional GET of ``url`` using the validators in ``state``.

        Returns ``FetchResult`` for 2xx and 304 (``body=b""``). Raises ``FetchError``
        (``transient`` says whether a later try can help) or ``RateLimitedError``
        (429/503 with a usable Retry-After).
        """
        if self._client is None:
            raise RuntimeError("use 'async with Fetcher(...)' before calling fetch()")
        host = (urlsplit(url).hostname or "").lower()
        per_host = self._per_host.get(host)
        if per_host is None:
            per_host = self._per_host[host] = asyncio.Semaphore(self._settings.per_host_concurrency)
        # Host slot first: a feed waiting for its busy host must not hold a global slot
        # that a feed on another host could use.
        async with per_host, self._total:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self._settings.timeout_seconds):
                    return await self._get(self._client, url, state, started)
            except TimeoutError:
                raise FetchError(
                    url,
                    f"no complete response within {self._settings.timeout_seconds:g} s",
                    transient=True,
                ) from None

    async def _get(
        self, client: httpx.AsyncClient, url: str, state: FeedState, started: float
    ) -> FetchResult:
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        current = url
        for _hop in range(self._settings.max_redirects + 1):
            try:
                request = client.build_request("GET", current, headers=headers)
                response = await client.send(request, stream=True)
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
                raise _transport_error(url, exc) from exc
            try:
                code = response.status_code
                if code in _REDIRECTS:
                    current = _redirect_target(url, response)
                    continue
                if code == 304:
                    return self._result(url, response, b"", started)
                if not 200 <= code < 300:
                    raise _status_error(url, response)
                body = await self._read_body(url, response)
                return self._result(url, response, body, started)
            finally:
                await response.aclose()
        raise FetchError(
            url, f"more than {self._settings.max_redirects} redirects (last to {current})"
        )

    async def _read_body(self, url: str, response: httpx.Response) -> bytes:
        limit = self._settings.max_body_bytes
        too_big = f"body larger than {limit:,} bytes (after decompression)"
        declared = response.headers.get("content-length", "")
        if (
            declared.isdigit()
            and "content-encoding" not in response.headers
            and int(declared) > limit
        ):
            raise FetchError(url, too_big, status_code=response.status_code)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise FetchError(url, too_big, status_code=response.status_code)
                chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise _transport_error(url, exc) from exc
        return b"".join(chunks)

    @staticmethod
    def _result(url: str, response: httpx.Response, body: bytes, started: float) -> FetchResult:
        return FetchResult(
            url=url,
            final_url=str(response.url),
            status=response.status_code,
            body=body,
            headers={k.lower(): v for k, v in response.headers.items()},
            elapsed_seconds=time.monotonic() - started,
        )


def _redirect_target(url: str, response: httpx.Response) -> str:
    location = response.headers.get("location", "").strip()
    if not location:
        raise FetchError(
            url,
            f"HTTP {response.status_code} redirect without a Location header",
            status_code=response.status_code,
        )
    try:
        target = response.url.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(url, f"redirect to an invalid URL {location!r}") from exc
    if target.scheme not in ("http", "https"):
        raise FetchError(
            url,
            f"redirect to a non-http(s) URL refused: {location!r}",
            status_code=response.status_code,
        )
    return str(target)


def _status_error(url: str, response: httpx.Response) -> FetchError:
    code = response.status_code
    label = f"HTTP {code} {response.reason_phrase}".rstrip()
    if code in (429, 503):
        now = datetime.now(UTC)
        retry_at = parse_retry_after(response.headers.get("retry-after"), now)
        if retry_at is not None:
            return RateLimitedError(
                url,
                f"{label}; Retry-After until {retry_at:%Y-%m-%d %H:%M:%S} UTC",
                retry_at=retry_at,
                status_code=code,
            )
    transient = code >= 500 or code in (408, 429)
    return FetchError(url, label, transient=transient, status_code=code)


def _transport_error(url: str, exc: Exception) -> FetchError:
    """Map an httpx (or URL) exception to a FetchError with the right ``transient``."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return FetchError(url, f"timed out ({type(exc).__name__})", transient=True)
    if isinstance(exc, httpx.DecodingError):
        return FetchError(url, f"body could not be decompressed: {detail}")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FetchError(url, f"unusable URL: {detail}")
    if isinstance(exc, ValueError):  # e.g. a stored validator that is not valid in a header
        return FetchError(url, f"invalid request: {detail}")
    if isinstance(exc, httpx.TransportError):
        return FetchError(url, f"network error ({type(exc).__name__}: {detail})", transient=True)
    return FetchError(url, f"HTTP client error ({type(exc).__name__}: {detail})")
