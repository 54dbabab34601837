"""Time to first token: after ``http.warm()`` (run at start-up), a provider's first request pays
no SSL context, no first-use import and no thread hop after Enter (performance issue, TTFT).

Each check runs in a fresh interpreter: in this one, other tests have long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import asyncio, json, ssl, sys
    from contextlib import aclosing

    from muxtui.engine.providers import http
    from muxtui.engine.providers.base import ChatMessage, StreamRequest, TextDelta
    from muxtui.engine.providers.openai import OpenAIProvider

    WARM = sys.argv[2] == "warm"
    if WARM:
        http.warm()

    contexts = []
    original_context = ssl.create_default_context

    def counting_context(*args, **kwargs):
        contexts.append(1)
        return original_context(*args, **kwargs)

    ssl.create_default_context = counting_context
    threads = []
    original_to_thread = asyncio.to_thread

    async def counting_to_thread(*args, **kwargs):
        threads.append(getattr(args[0], "__name__", "?"))
        return await original_to_thread(*args, **kwargs)

    asyncio.to_thread = counting_to_thread

    async def main():
        provider = OpenAIProvider("fake", sys.argv[1], "sk-test-warm-0123456789")
        before = set(sys.modules)
        await provider.prepare()
        request = StreamRequest(model="warm?chunks=3", messages=[ChatMessage("user", "hi")])
        text = ""
        async with aclosing(provider.stream(request)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    text += event.text
        imported = sorted(m for m in set(sys.modules) - before
                          if m.split(".")[0] in ("httpx", "httpcore", "anyio", "h11", "certifi", "sniffio"))
        await provider.aclose()
        print(json.dumps({"contexts": len(contexts), "imported": imported, "threads": threads, "text": text}))

    asyncio.run(main())
    """
)


def probe(base_url: str, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, base_url, mode], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_after_warm_the_first_request_builds_and_imports_nothing(fake_server):
    warm = probe(fake_server.openai_base_url, "warm")
    assert warm["text"], "the request streamed"
    assert warm["contexts"] == 0, "an SSL context was built after Enter"
    assert warm["imported"] == [], f"imported after Enter: {warm['imported']}"
    assert warm["threads"] == [], "a thread hop: the request waits for the busy event loop to come back"


def test_without_warm_the_first_request_still_works(fake_server):
    # The cold path (no start-up warm-up, e.g. `muxtui send`): one SSL context, built in a thread.
    cold = probe(fake_server.openai_base_url, "cold")
    assert cold["text"]
    assert cold["contexts"] == 1
    assert cold["threads"] == ["make_client"]


def test_clients_share_one_ssl_context():
    from muxtui.engine.providers import http

    a = http.make_client(3, 30)
    b = http.make_client(3, 30)
    try:
        assert http.shared_ssl_context() is http.shared_ssl_context()
        assert a.timeout.connect == 3 and a.timeout.read == 30
        assert a.headers["user-agent"] == http.USER_AGENT
    finally:
        import asyncio

        asyncio.run(a.aclose())
        asyncio.run(b.aclose())
