#!/usr/bin/env bash
# Puts ONNX Runtime's shared library from the PyPI `onnxruntime` wheel (no install, no venv) into
# third_party/onnxruntime/, where `vms` and the tests find it. Idempotent; retries pip.
# Usage: scripts/fetch-onnxruntime.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
ver=${1:-1.31.1}
dest=third_party/onnxruntime
if [ -e "$dest/libonnxruntime.so.$ver" ]; then exit 0; fi
mkdir -p "$dest"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for attempt in 1 2 3; do
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    "onnxruntime==$ver" -d "$tmp" && break
  [ "$attempt" = 3 ] && { echo "cannot download onnxruntime $ver from PyPI" >&2; exit 1; }
  sleep $((attempt * 5))
done
python3 - "$tmp" "$dest" "$ver" <<'PY'
import glob, sys, zipfile, os
tmp, dest, ver = sys.argv[1:]
whl = glob.glob(os.path.join(tmp, f"onnxruntime-{ver}-*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    for name, out in [(f"onnxruntime/capi/libonnxruntime.so.{ver}", f"libonnxruntime.so.{ver}"),
                      ("onnxruntime/LICENSE", "LICENSE"), ("onnxruntime/ThirdPartyNotices.txt", "ThirdPartyNotices.txt")]:
        with z.open(name) as src, open(os.path.join(dest, out), "wb") as dst:
            dst.write(src.read())
PY
ln -sf "libonnxruntime.so.$ver" "$dest/libonnxruntime.so"
echo "[setup] ONNX Runtime $ver in $dest"
