#!/usr/bin/env bash
# Proves the container image without a registry: a root file system from Debian's
# packages (mmdebstrap), imported into podman, the release binary and the Dockerfile's
# runtime settings on top (Containerfile), then the container started and its own
# HEALTHCHECK (`baylanys healthcheck`) asked until it reports healthy.
#
#   cargo build --release --bin baylanys && sudo tests/container/check.sh
#
# Needs root, podman, mmdebstrap and runc (apt-get install podman mmdebstrap runc).
# On hosts with cgroups in hybrid mode crun refuses to start containers, so runc is used;
# and podman's default file limit can exceed the host's, so limits are given explicitly.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${BAYLANYS_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/baylanys}"
[ -x "$bin" ] || { echo "no release binary at $bin: cargo build --release --bin baylanys" >&2; exit 1; }
work="$(mktemp -d)"
trap 'podman --runtime "$runc" rm -f baylanys-check >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
runc="$(command -v runc || echo /usr/sbin/runc)"
podman=(podman --runtime "$runc")
limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

if ! podman image exists localhost/baylanys-base:bookworm; then
  echo "== base: mmdebstrap bookworm (ca-certificates, tzdata, libpq5)"
  mmdebstrap --variant=apt --include=ca-certificates,tzdata,libpq5,passwd \
    --format=tar bookworm "$work/rootfs.tar" >"$work/mmdebstrap.log" 2>&1 \
    || { tail -20 "$work/mmdebstrap.log" >&2; exit 1; }
  podman import "$work/rootfs.tar" localhost/baylanys-base:bookworm >/dev/null
fi

echo "== image: Containerfile with the release binary"
cp "$bin" "$work/baylanys"
cp "$here/Containerfile" "$work/Containerfile"
"${podman[@]}" build --format docker --network host "${limits[@]}" \
  -t localhost/baylanys:check "$work" >"$work/build.log" 2>&1 \
  || { tail -20 "$work/build.log" >&2; exit 1; }

echo "== run: serve on 127.0.0.1:18080 (host network), data in a volume"
"${podman[@]}" run -d --name baylanys-check --network host "${limits[@]}" \
  -e BAYLANYS_LISTEN=127.0.0.1:18080 localhost/baylanys:check >/dev/null
for i in $(seq 1 60); do
  if "${podman[@]}" healthcheck run baylanys-check >/dev/null 2>&1; then
    echo "healthy after ${i} check(s):"
    "${podman[@]}" inspect --format '{{.State.Health.Status}}' baylanys-check
    "${podman[@]}" exec baylanys-check /usr/local/bin/baylanys healthcheck --ready
    exit 0
  fi
  sleep 1
done
echo "the container never reported healthy; its log:" >&2
"${podman[@]}" logs baylanys-check >&2 || true
exit 1
