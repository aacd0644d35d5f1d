"""Imported by laion_clap's training data module, never used on the inference path."""
