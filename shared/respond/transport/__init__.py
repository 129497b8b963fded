"""How response calls reach Azure: the ARM client, Graph calls, retries and client-side rate limits."""
