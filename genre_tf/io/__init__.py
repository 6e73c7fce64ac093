"""File formats and what is on disk: audio decoding, datasets and libraries and their labels (genre
folders, a labels CSV, FMA's tracks.csv, genre tags), splits, the feature store, runs, prediction
tables. Each format has one module, its only writer and reader."""
