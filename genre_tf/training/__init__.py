"""Training machinery: tf.data pipelines, augmentation, batch-norm and standardizer calibration,
fitting with the best epoch kept, metrics."""
