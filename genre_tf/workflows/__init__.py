"""What the commands do, as library functions: extract, train, predict, label a library, export,
report, synth."""
