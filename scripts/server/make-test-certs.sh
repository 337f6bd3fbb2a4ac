#!/usr/bin/env bash
# make-test-certs.sh DIR
# Creates the throwaway TLS material of the TLS tests (bindings/python/tests/test_tls.py)
# in DIR, with the `openssl` command-line tool (Debian package `openssl`):
#
#   ca.pem, ca-key.pem                  the test CA
#   server-cert.pem, server-key.pem     server certificate signed by the CA, for
#                                       CN 127.0.0.1, SAN IP:127.0.0.1 and DNS:localhost
#   wrong-host-cert.pem, wrong-host-key.pem
#                                       server certificate signed by the same CA,
#                                       for CN/SAN wrong.example only
#   client-cert.pem, client-key.pem     client certificate signed by the CA
#                                       (for REQUIRE X509 users)
#   other-ca.pem, other-ca-key.pem      a second, unrelated CA (the wrong-CA case)
#
# EC P-256 keys (fast), valid 10 years, no prompts. Idempotent: if every file
# is there and the certificates still verify against ca.pem, nothing is
# redone; otherwise everything is regenerated.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
command -v openssl >/dev/null 2>&1 || {
    echo "make-test-certs: openssl not found (apt-get install openssl, or scripts/deps.sh)" >&2
    exit 1
}

dir=$1
mkdir -p -- "$dir"
cd -- "$dir"

files=(ca.pem ca-key.pem server-cert.pem server-key.pem wrong-host-cert.pem wrong-host-key.pem
    client-cert.pem client-key.pem other-ca.pem other-ca-key.pem)

complete() {
    local f
    for f in "${files[@]}"; do [[ -s $f ]] || return 1; done
    openssl verify -CAfile ca.pem server-cert.pem wrong-host-cert.pem client-cert.pem >/dev/null 2>&1 &&
        openssl verify -CAfile other-ca.pem other-ca.pem >/dev/null 2>&1
}

if complete; then
    exit 0
fi

umask 077
work=$(mktemp -d .make-test-certs.XXXXXX)
trap 'rm -rf -- "$work"' EXIT

days=3650
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
# A minimal config, so that the system openssl.cnf adds nothing unexpected.
cat >"$work/req.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
EOF

# ca NAME CN: self-signed CA certificate NAME.pem with key NAME-key.pem.
ca() {
    openssl req -x509 -new "${newkey[@]}" -config "$work/req.cnf" -subj "/CN=$2" -days "$days" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$work/$1-key.pem" -out "$work/$1.pem" 2>"$work/openssl.log" || {
        cat "$work/openssl.log" >&2
        return 1
    }
}

# leaf NAME CN EKU SAN: certificate NAME-cert.pem / NAME-key.pem signed by ca.pem.
leaf() {
    local name=$1 cn=$2 eku=$3 san=$4
    {
        echo "basicConstraints = critical, CA:FALSE"
        echo "keyUsage = critical, digitalSignature"
        echo "extendedKeyUsage = $eku"
        echo "authorityKeyIdentifier = keyid"
        echo "subjectKeyIdentifier = hash"
        [[ -z $san ]] || echo "subjectAltName = $san"
    } >"$work/$name.ext"
    openssl req -new "${newkey[@]}" -config "$work/req.cnf" -subj "/CN=$cn" \
        -keyout "$work/$name-key.pem" -out "$work/$name.csr" 2>"$work/openssl.log" &&
        openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" \
            -set_serial "0x$(openssl rand -hex 16)" -days "$days" -extfile "$work/$name.ext" \
            -out "$work/$name-cert.pem" 2>"$work/openssl.log" || {
        cat "$work/openssl.log" >&2
        return 1
    }
}

ca ca "mysqlpool test CA"
ca other-ca "mysqlpool unrelated test CA"
leaf server 127.0.0.1 serverAuth "IP:127.0.0.1, DNS:localhost"
leaf wrong-host wrong.example serverAuth "DNS:wrong.example"
leaf client mysqlpool-test-client clientAuth ""

# mariadbd runs as root in the tests, but keep the keys private anyway and the
# certificates world-readable.
chmod 600 "$work"/*-key.pem
chmod 644 "$work"/ca.pem "$work"/other-ca.pem "$work"/*-cert.pem
for f in "${files[@]}"; do
    mv -f -- "$work/$f" "$f"
done

complete || {
    echo "make-test-certs: the generated certificates do not verify" >&2
    exit 1
}
