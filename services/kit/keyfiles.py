"""Reading the public key tokens are verified with (SHOP_AUTH_PUBLIC_KEY_FILE).

The file holds a PEM public key, or a PEM certificate carrying it: the Helm chart generates the
signing pair itself, and Helm can make a self-signed certificate for a key but not the bare
public key. The certificate is only a carrier; its names and dates mean nothing here.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def public_key_pem(pem: bytes) -> bytes:
    """`pem` as a SubjectPublicKeyInfo PEM (a certificate's key taken out of it)."""
    if _CERTIFICATE not in pem:
        return pem
    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError:
        return pem  # not readable as a certificate: the key checks report the file as it is
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
