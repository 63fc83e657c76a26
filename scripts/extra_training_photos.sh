#!/usr/bin/env bash
# More, and more varied, training photos for the mosaic segmenter (demosaic-detect-v4's
# recipe, models/README.md): photos and abstract art from Debian wallpaper packages that
# are not kept for evaluation (plasma-workspace-wallpapers and libjxl-testdata are).
# The packages are downloaded and unpacked into a folder, not installed.
#   usage: scripts/extra_training_photos.sh [DEST]   (default: runs/extra-photos)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-runs/extra-photos}
PACKAGES=(lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 ukui-wallpapers gnome-backgrounds)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "${PACKAGES[@]}" >/dev/null 2>&1) || {
  echo "apt-get download failed: run 'apt-get update' first" >&2; exit 1; }
mkdir -p "$dest"
for deb in "$work"/*.deb; do
  name=$(basename "$deb" | cut -d_ -f1)
  mkdir -p "$work/x/$name" "$dest/$name"
  dpkg-deb -x "$deb" "$work/x/$name"
  find "$work/x/$name" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.webp' \) \
    -exec cp -t "$dest/$name" {} +
done
# GNOME's "pixels" wallpapers are pixel art (flat squares: a mosaic in all but name) and
# "vnc" are 1-pixel placeholders: neither is a clean photo to put mosaics on.
rm -f "$dest"/gnome-backgrounds/pixels-* "$dest"/gnome-backgrounds/vnc-*
echo "$(find "$dest" -type f | wc -l) photos in $dest"
