"""Evaluation against the toy-faces ground truth: edit quality, reference transfer and mode coverage, generator
quality and its ceiling. Nothing is imported here."""
