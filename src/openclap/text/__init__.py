"""Text towers (Hugging Face models from local folders) and their tokenizers."""

from openclap.text.tower import TextEncoder, resolve_text_path

__all__ = ["TextEncoder", "resolve_text_path"]
