"""Evaluation: benchmark adapters, zero-shot / retrieval / linear-probe protocols, caches and reports."""
