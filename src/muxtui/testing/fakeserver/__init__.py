"""A local fake of the OpenAI and Anthropic streaming APIs, with exact, scriptable faults.

A hand-written HTTP/1.1 server on ``asyncio.start_server`` (no framework, so every byte and
every fault is under control), running its own event loop in a daemon thread: sync tests,
async tests on another loop, subprocesses and benchmarks can all use one instance.

    srv = FakeServer().start()
    srv.openai_base_url      # client POSTs {that}/chat/completions
    srv.anthropic_base_url   # client POSTs {that}/v1/messages
    srv.openai_base_url      # also {that}/responses (OpenAI's Responses API) and GET {that}/models
    ...
    srv.stop()

Standalone: ``python -m muxtui.testing.fakeserver --port N`` prints the base URL and
serves until killed.

**The scenario is the model name**: ``name?key=value&key=value`` (see ``Scenario``), so a
subprocess or the real app can drive every fault with no in-process control. Examples:

    fake?chunks=200&delay_ms=5          slow stream of 200 chunks
    fake?status=429&retry_after=3       rate limited, Retry-After: 3
    fake?fault=drop&after=10            TCP connection aborted after 10 chunks
    fake?pause_after=5&gate=g1          stop after 5 chunks until srv.release("g1")
    fake?status=503&fail_first=2        503 twice (for this exact model string), then OK
    replay:<fixture>                    a recorded response from tests/fixtures/streams, byte
                                        for byte (see muxtui.testing.replay)

A request without a model name (``GET /v1/models``) takes its options from a URL prefix:
``{base_url}/x/models_status=404/v1`` answers 404 there and serves chat requests as usual
(see ``FakeServer._models``).

=============  ===========================================================================
module         owns
=============  ===========================================================================
scenario.py    the model-name scenario: its keys, parsing, the chunks and usage it yields
server.py      ``FakeServer``: routing, validation, error replies, model list, replays
core.py        the server's thread and loop, recorded requests, sent text, gates
stream.py      writing a streamed reply: batching, gates, faults
wire.py        HTTP/1.1 by hand: reading requests, writing heads, the client leaving
openai.py      Chat Completions: chunks, error bodies, the non-streaming reply, the model list
anthropic.py   Messages: events, error bodies, the non-streaming reply, model pages
responses.py   the Responses API: typed events, request checks, the non-streaming reply
content.py     message content as lists of parts (text, images, documents), per API family
__main__.py    ``python -m muxtui.testing.fakeserver``
=============  ===========================================================================
"""

from muxtui.testing.fakeserver.scenario import FAULTS, Scenario, ScenarioError, parse_scenario
from muxtui.testing.fakeserver.server import MODELS, FakeServer, main

__all__ = ["FakeServer", "Scenario", "parse_scenario", "ScenarioError", "FAULTS", "MODELS", "main"]
