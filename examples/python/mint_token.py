#!/usr/bin/env python3
"""Mint a tasktail subscribe token (HS256 JWT) with the standard library only.

    TASKTAIL_TOKEN_SECRET=... python3 mint_token.py import-42 1800

Do this in your backend, for users who may watch the task; hand the browser
https://HOST/tasks/import-42?token=<token>.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time


def mint(secret: bytes, sub: str, ttl: int = 3600) -> str:
    """A token that opens task `sub` (or a prefix pattern such as "import-*") for ttl seconds."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": sub, "exp": int(time.time()) + ttl}).encode())
    sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


if __name__ == "__main__":
    secret = os.environ["TASKTAIL_TOKEN_SECRET"].encode()
    print(mint(secret, sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3600))
