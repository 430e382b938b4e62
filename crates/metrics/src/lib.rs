//! Evaluation metrics for generative models and anomaly detectors.
