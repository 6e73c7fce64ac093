"""Below everything else: the exceptions, atomic files and locks, provenance, TensorFlow set-up."""
