"""File formats and what is on disk: audio decoding, datasets and libraries, splits, the feature store,
runs, prediction tables. Each format has one module, its only writer and reader."""
