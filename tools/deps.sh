#!/usr/bin/env bash
# Install, from Debian's archive, exactly the packages Norn's build, tests,
# demo and benchmarks need that are missing on this machine. Does nothing
# (and needs no network) when everything is present. Run as root.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config clang libclang-rt-14-dev libfuzzer-14-dev
  # libraries named by the design
  libuv1-dev liburing-dev libisal-dev libssl-dev liblmdb-dev
  libhttp-parser-dev libxml2-dev libinih-dev
  libjansson-dev
  # tools the tests drive: real clients, real disks, namespaces
  fio libnbd-bin nbdkit qemu-utils e2fsprogs fuse3 iproute2 iptables
  python3 python3-boto3 python3-requests python3-pytest
  awscli s3cmd rclone procps psmisc
  openssl
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
