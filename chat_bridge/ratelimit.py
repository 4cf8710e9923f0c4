"""The token bucket lives in the core (hotline/ratelimit.py), shared with the web's
request limits; imported here for the chat socket and the messengers."""

from hotline.ratelimit import TokenBucket

__all__ = ["TokenBucket"]
