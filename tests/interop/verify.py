"""Verifies a JWT with PyJWT or python-jose for the interop tests (tests/interop.rs).

Usage: verify.py LIBRARY TOKEN ALG KEY AUDIENCE ISSUER

LIBRARY is `pyjwt` or `python-jose`. KEY is `secret:TEXT` for an HMAC secret, a path to a
PEM public key, or `jwks:JSON` for a JWK set (the key is picked by the token's `kid`; PyJWT
only). The token must verify with exactly ALG and carry the audience and issuer given.
Prints the decoded claims as JSON on stdout; exits non-zero with the reason on stderr when
the token does not verify.
"""

import json
import sys


def main(argv):
    if len(argv) != 7:
        sys.exit(__doc__)
    library, token, alg, key_spec, audience, issuer = argv[1:]
    if library == "pyjwt":
        import jwt

        if key_spec.startswith("jwks:"):
            kid = jwt.get_unverified_header(token).get("kid")
            key = jwt.PyJWKSet.from_json(key_spec[len("jwks:"):])[kid].key
        elif key_spec.startswith("secret:"):
            key = key_spec[len("secret:"):]
        else:
            with open(key_spec, "r", encoding="ascii") as handle:
                key = handle.read()
        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=audience, issuer=issuer)
        except jwt.InvalidTokenError as error:
            sys.exit(f"PyJWT rejected the token: {type(error).__name__}: {error}")
    elif library == "python-jose":
        from jose import JWTError, jwt

        if key_spec.startswith("secret:"):
            key = key_spec[len("secret:"):]
        else:
            with open(key_spec, "r", encoding="ascii") as handle:
                key = handle.read()
        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=audience, issuer=issuer)
        except JWTError as error:
            sys.exit(f"python-jose rejected the token: {type(error).__name__}: {error}")
    else:
        sys.exit(f"unknown library {library!r}; use pyjwt or python-jose")
    print(json.dumps(claims, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
