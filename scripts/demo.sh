#!/usr/bin/env bash
# `make demo`: the whole product on a fresh machine with no dataset and no internet.
# Synthesize a small dataset, extract features, train a few fast models, report, predict a song,
# write genres into a small library's tags and undo it.
set -euo pipefail
G="${GENRE_TF:-.venv/bin/genre-tf}"
W="${DEMO_DIR:-demo-work}"
EPOCHS="${DEMO_EPOCHS:-15}"
# 300 training segments: batches of 16 give enough steps per epoch for batch norm and early stopping.
BATCH=16

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/6 synthesize a dataset: 10 genres x 10 clips of 15 s"
"$G" synth --out "$W/music" --genres 10 --clips 10 --seconds 15 --seed 0

step "2/6 extract features"
"$G" extract --data "$W/music" --store "$W/features" --features logmel,mfcc,musicnn
# cnn5: the first reference project's model, with its augmentations; linear on musicnn: pretrained music knowledge
# and a head that trains in seconds, what does best on real music (docs/results.md).
models=("musicnn linear" "mfcc cnn" "mfcc lstm" "logmel cnn" "logmel cnn5")
# YAMNet comes from GENRE_TF_YAMNET_HANDLE, else TF-Hub: offline and without a local copy, go on without it.
if "$G" extract --data "$W/music" --store "$W/features" --features embedding > "$W/embedding.log" 2>&1; then
  cat "$W/embedding.log"
  models+=("embedding,musicnn linear" "embedding cnn" "nospec combined")
else
  echo "YAMNet is not reachable, so the demo goes on without the embedding feature ($(grep '^error:' "$W/embedding.log" | cut -c8-))"
fi

step "3/6 train ${#models[@]} models ($EPOCHS epochs at most each)"
for pair in "${models[@]}"; do
  set -- $pair
  echo "-- $2 on $1"
  "$G" train --input "$1" --model "$2" --store "$W/features" --runs "$W/runs" --epochs "$EPOCHS" --batch-size "$BATCH" 2>&1 | grep -v '^epoch'
done

step "4/6 report"
"$G" report --runs "$W/runs" --reports "$W/reports"

step "5/6 predict a song the models have never heard (another seed)"
"$G" synth --out "$W/new-songs" --genres 10 --clips 1 --seconds 40 --seed 7
"$G" predict "$W/new-songs/metal/metal.00000.wav" "$W/new-songs/swing/swing.00000.wav" --reports "$W/reports"

step "6/6 write genres into those songs' tags: the plan, --write, then --undo"
rm -rf "$W/tagging"
"$G" tag "$W/new-songs" --reports "$W/reports" --out "$W/tagging"
"$G" tag "$W/new-songs" --reports "$W/reports" --out "$W/tagging" --write
for journal in "$W"/tagging/journal-*.jsonl; do
  if [ -e "$journal" ]; then "$G" tag --undo "$journal"; fi
done
