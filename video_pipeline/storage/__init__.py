"""Videos and inputs where they live: any URL fsspec knows (s3://, gs://, http(s)://).

A remote video is fetched into a bounded local cache (`cache.FetchCache`) by the rank's
prefetch threads (`prefetch.Prefetcher`) ahead of the decode workers, which then read
a local file; it is removed once decoded. A remote `data.input_jsonl` is copied once
(`inputs.local_input`). Keys stay the URL as written (or `data.id_field`), and nothing
here is part of the fingerprint. Failures are per sample: `video_not_found` (no such
object), `fetch_denied` (credentials: a streak of them stops the run, see
runner/watch.py), `fetch_error` (network, after retries; a plain rerun tries again).
"""
