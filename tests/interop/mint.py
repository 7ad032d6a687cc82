"""Mints a JWT with PyJWT or python-jose for the interop tests (tests/interop.rs).

Usage: mint.py LIBRARY ALG KEY CLAIMS_JSON

LIBRARY is `pyjwt` or `python-jose`. ALG is a JWS algorithm name, or `none` (PyJWT only).
KEY is `secret:TEXT` for an HMAC secret, a path to a PEM private key, or `-` for no key.
CLAIMS_JSON is the payload as a JSON object. Prints the compact token on stdout; exits
non-zero with the reason on stderr on any failure.
"""

import json
import sys


def read_key(spec):
    if spec == "-":
        return None
    if spec.startswith("secret:"):
        return spec[len("secret:"):]
    with open(spec, "r", encoding="ascii") as handle:
        return handle.read()


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    library, alg, key_spec, claims_json = argv[1:]
    key = read_key(key_spec)
    claims = json.loads(claims_json)
    if library == "pyjwt":
        import jwt

        # For `none`, KEY is `-`: jwt.encode(claims, None, algorithm="none").
        token = jwt.encode(claims, key, algorithm=alg)
    elif library == "python-jose":
        from jose import jwt

        token = jwt.encode(claims, key, algorithm=alg)
    else:
        sys.exit(f"unknown library {library!r}; use pyjwt or python-jose")
    if isinstance(token, bytes):  # PyJWT 1.x returned bytes; keep the output a string.
        token = token.decode("ascii")
    print(token)


if __name__ == "__main__":
    main(sys.argv)
