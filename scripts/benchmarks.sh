#!/usr/bin/env bash
# Every figure in BENCHMARKS.md, measured again on this machine: JSON and tables into
# benchmarks/ (evaluation photos: KDE Plasma wallpapers, never trained or tuned on).
#   bash scripts/benchmarks.sh            # all (about 40 min on 2 cores)
#   bash scripts/benchmarks.sh quality    # or: detect | model | video | ray | footage
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if ! [ -d /usr/share/wallpapers ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq plasma-workspace-wallpapers >/dev/null  # the evaluation photos
fi
D=.venv/bin/demosaic
OUT=benchmarks
mkdir -p "$OUT"
VTEST=/usr/share/doc/opencv-doc/examples/data/vtest.avi
what=${1:-all}

if [ "$what" = all ] || [ "$what" = quality ]; then
  $D evaluate --out "$OUT/quality" --overwrite | tee "$OUT/quality.txt"
  # The same mosaics through H.264 at CRF 23 first, as video arrives.
  $D evaluate --out "$OUT/quality-crf23" --crf 23 --no-paper --overwrite | tee "$OUT/quality-crf23.txt"
fi
if [ "$what" = all ] || [ "$what" = detect ]; then
  $D benchmark detect --cases 2 --out "$OUT/detect.json" | tee "$OUT/detect.txt"
  $D benchmark detect --cases 2 --detector classical --out "$OUT/detect-classical.json" | tee "$OUT/detect-classical.txt"
fi
if [ "$what" = all ] || [ "$what" = model ]; then
  $D benchmark model --out "$OUT/model.json" | tee "$OUT/model.txt"
fi
if [ "$what" = all ] || [ "$what" = video ] || [ "$what" = ray ]; then
  # 100 frames of vtest.avi with a 12 px mosaic over a moving region (ffmpeg's pixelize).
  clip="$OUT/vtest-mosaic.mkv"
  [ -f "$clip" ] || ffmpeg -v error -i "$VTEST" -frames:v 100 -filter_complex \
    "split[a][b];[b]crop=240:180:300:200,pixelize=width=12:height=12[p];[a][p]overlay=300:200" \
    -c:v libx264 -crf 18 "$clip"
  workers=""; [ "$what" != video ] && workers="--ray-workers 1,2"
  $D benchmark video "$clip" $workers --out "$OUT/video.json" | tee "$OUT/video.txt"
  # The same with every frame detected (no keyframes), for comparison.
  $D benchmark video "$clip" --detect-every 1 --out "$OUT/video-every-frame.json" | tee "$OUT/video-every-frame.txt"
fi
if [ "$what" = all ] || [ "$what" = footage ]; then
  # `demosaic video` on real footage with ffmpeg's own mosaics, against the clean frames and
  # --passthrough: the evaluation clips (vtest.avi frames 400+, Megamind.avi; never tuned on),
  # then the tuning clips (tree.avi, vtest.avi frames 0-399); each split also has a camera
  # panning or jittering over its photos (Plasma wallpapers; mate-backgrounds). About 35 min on 2 cores.
  .venv/bin/python scripts/eval_footage.py --split evaluation --out "$OUT/footage-evaluation"
  .venv/bin/python scripts/eval_footage.py --split tuning --out "$OUT/footage-tuning"
fi
